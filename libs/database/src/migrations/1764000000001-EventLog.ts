import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * The event log (ARCHITECTURE.md §4).
 *
 * - Global order is (tx_id, global_seq). global_seq alone is not an order readers can page by: a
 *   later value can commit first. Readers only look below pg_snapshot_xmin of their own snapshot,
 *   where every transaction has ended, so nothing can appear behind a position already read.
 * - The application group role may INSERT and SELECT rows of `events`, nothing else, so it needs no
 *   UPDATE right anywhere. The `streams` heads are kept by the append functions and, for rows
 *   inserted any other way, by a SECURITY DEFINER trigger that checks them as well.
 * - `append_event` (one event, scalar arguments) and `append_to_stream` (a batch, arrays) are
 *   the one round trip of an append. They run as the owner (SECURITY DEFINER, fixed search_path)
 *   so that they can advance the head themselves: a per-row trigger, with its own owner-rights
 *   call, cost about a tenth of an append. They make every check the trigger makes, and nothing
 *   else a plain INSERT could not do. The one-event case, by far the usual one, has its own
 *   function: array parsing and the batch's set-based insert cost it about a fifth more database
 *   time.
 * - The functions do not NOTIFY. A transaction that has sent a NOTIFY holds one cluster-wide lock
 *   from just before its commit until the commit is flushed, so notifying appends commit one at a
 *   time (8 writers ran at half speed). The adapter notifies after the commit instead, from a
 *   transaction with no xid, which flushes nothing (see commit-notifier.ts).
 * - Custom SQLSTATEs (class YB) carry the port's errors to the adapter:
 *     YB001 wrong expected version (DETAIL: the actual last revision, or `no_stream`)
 *     YB002 append after another write in the same transaction
 *     YB003 stream name and organisation disagree
 *     YB004 a row that does not extend its stream's head by one (a gap)
 *     YB005 update, delete or truncate of the log
 */

// Advisory lock class for stream appends: the two-int4 form keeps them apart from bigint keys.
const STREAM_LOCK_CLASS = 0x62637374; // 'bcst'

const APPEND_EVENT =
  'append_event(text, uuid, text, bigint, uuid, text, smallint, bytea, bytea, text, text)';

export class EventLog1764000000001 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    // stream_id uses the C collation: names are ASCII, and verification walks streams in byte
    // order through the (stream_id, revision) index.
    await q(`
      CREATE TABLE events (
        global_seq     bigint GENERATED ALWAYS AS IDENTITY,
        tx_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
        org_id         uuid NOT NULL,
        stream_id      text COLLATE "C" NOT NULL,
        revision       bigint NOT NULL,
        event_id       uuid NOT NULL,
        type           text NOT NULL,
        schema_version smallint NOT NULL,
        data           bytea NOT NULL,
        metadata       bytea NOT NULL,
        actor_id       text NOT NULL,
        request_id     text,
        recorded_at    timestamptz NOT NULL,
        prev_hash      bytea NOT NULL,
        hash           bytea NOT NULL,
        CONSTRAINT events_pkey PRIMARY KEY (tx_id, global_seq),
        CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision)
      )`);
    await q(`COMMENT ON CONSTRAINT events_pkey ON events IS
      'The global log order: readers page by (tx_id, global_seq) below their snapshot xmin'`);
    await q(`CREATE INDEX events_org_tx_order ON events (org_id, tx_id, global_seq)`);
    // Idempotent retries with expected revision "any" look the first event id up in its stream.
    await q(`CREATE INDEX events_event_id ON events (event_id)`);

    await q(`
      CREATE TABLE streams (
        stream_id        text COLLATE "C" PRIMARY KEY,
        org_id           uuid NOT NULL,
        last_revision    bigint NOT NULL,
        last_hash        bytea NOT NULL,
        last_recorded_at timestamptz NOT NULL
      )`);
    await q(`CREATE INDEX streams_org ON streams (org_id, stream_id)`);

    await q(`
      CREATE FUNCTION events_refuse_change() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP USING ERRCODE = 'YB005';
      END $$`);
    // Statement triggers: they refuse the statement before it touches a row, and unlike row
    // triggers they add nothing to the cost of an insert.
    await q(`
      CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change()`);

    // For rows inserted other than by the append functions (which make the same checks and
    // advance the head themselves). Runs as the owner so that the application role, which may only
    // INSERT and SELECT, never needs UPDATE on the heads. Each row must extend its stream's head by
    // exactly one, so no gap can enter the log (and no negative revision). A row trigger: for one
    // row it costs half what a statement trigger with a transition table does.
    //
    // It also checks that the stream name carries the row's organisation: the name is
    // <category>-<organisation>.<id>, a category holds no '-', and names are ASCII (so byte order
    // is the order verification expects). The adapter checks the full grammar before any I/O. These
    // and schema_version >= 1 were CHECK constraints, but PostgreSQL re-parses CHECK expressions on
    // every INSERT (several per cent of an append's database time); here they are compiled once per
    // session.
    //
    // Revision 0 inserts its head without ON CONFLICT: a head without its revision 0 cannot exist
    // (the log is append-only), and a second revision 0 fails on events_stream_revision_key first.
    // The speculative insertion ON CONFLICT needs cost more than the rest of this trigger's insert.
    // SET search_path stays: dropping it saved about 1% of an append, not worth an owner-rights
    // function resolving names through the caller's path.
    await q(`
      CREATE FUNCTION events_advance_stream_head() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF NOT (strpos(NEW.stream_id, '-') > 1
                AND substr(NEW.stream_id, strpos(NEW.stream_id, '-') + 1, 37)
                    = NEW.org_id::text || '.'
                AND octet_length(NEW.stream_id) = char_length(NEW.stream_id)
                AND octet_length(NEW.stream_id) <= 200) THEN
          RAISE EXCEPTION 'stream % does not belong to organisation %', NEW.stream_id, NEW.org_id
            USING ERRCODE = 'YB003';
        END IF;
        IF NEW.schema_version < 1 THEN
          RAISE EXCEPTION 'schema_version must be at least 1' USING ERRCODE = '23514';
        END IF;
        IF NEW.revision = 0 THEN
          INSERT INTO public.streams (stream_id, org_id, last_revision, last_hash, last_recorded_at)
          VALUES (NEW.stream_id, NEW.org_id, 0, NEW.hash, NEW.recorded_at);
        ELSE
          UPDATE public.streams
             SET last_revision = NEW.revision, last_hash = NEW.hash,
                 last_recorded_at = NEW.recorded_at
           WHERE stream_id = NEW.stream_id AND last_revision = NEW.revision - 1;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'event % of % does not follow the stream''s head', NEW.revision, NEW.stream_id
              USING ERRCODE = 'YB004';
          END IF;
        END IF;
        RETURN NULL;
      END $$`);
    // Skipped only inside the append functions when another role called them: there the user is
    // the owner (the functions' definer, who runs this migration) and the session's user is not.
    // The application role can become neither; the owner's own inserts, and its own calls of the
    // functions, still go through the trigger (the functions then leave the head to it).
    await q(`
      DO $do$ BEGIN
        EXECUTE format(
          'CREATE TRIGGER events_stream_head AFTER INSERT ON events FOR EACH ROW
             WHEN (current_user <> %1$L OR session_user = %1$L)
             EXECUTE FUNCTION events_advance_stream_head()',
          current_user);
      END $do$`);

    // One round trip per append; see the header comment and hash-chain.ts for the hash.
    await q(`
      CREATE FUNCTION append_to_stream(
        p_stream_id         text,
        p_org_id            uuid,
        p_expected          text,
        p_expected_revision bigint,
        p_event_ids         uuid[],
        p_types             text[],
        p_schema_versions   smallint[],
        p_data              bytea[],
        p_metadata          bytea[],
        p_actor_ids         text[],
        p_request_ids       text[]
      ) RETURNS TABLE (out_revision bigint, out_tx_id xid8, out_global_seq bigint)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_count            int := coalesce(cardinality(p_event_ids), 0);
        v_head_revision    bigint;
        v_head_hash        bytea;
        v_head_recorded_at timestamptz;
        v_after            bigint;
        v_first_found      bigint;
        v_found_ids        uuid[];
        v_recorded_at      timestamptz;
        v_micros           text;
        v_header           bytea;
        v_prev             bytea;
        v_prev_hashes      bytea[] := '{}';
        v_hashes           bytea[] := '{}';
        v_last_seq         bigint;
        v_org              text := p_org_id::text;
      BEGIN
        -- An xid taken before the stream lock could order this append before one that took the
        -- lock after it, breaking "revision order = global order".
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
          RAISE EXCEPTION 'append_to_stream must be the first write of its transaction'
            USING ERRCODE = 'YB002';
        END IF;
        IF v_count = 0
           OR cardinality(p_types) IS DISTINCT FROM v_count
           OR cardinality(p_schema_versions) IS DISTINCT FROM v_count
           OR cardinality(p_data) IS DISTINCT FROM v_count
           OR cardinality(p_metadata) IS DISTINCT FROM v_count
           OR cardinality(p_actor_ids) IS DISTINCT FROM v_count
           OR cardinality(p_request_ids) IS DISTINCT FROM v_count
           OR 1 > ANY (p_schema_versions)
           OR p_expected IS NULL
           OR p_expected NOT IN ('any', 'no_stream', 'stream_exists', 'exact')
           OR (p_expected = 'exact' AND p_expected_revision IS NULL) THEN
          RAISE EXCEPTION 'append_to_stream: malformed batch' USING ERRCODE = '22023';
        END IF;
        -- The stream name checks of events_advance_stream_head, which skips this function's rows.
        IF NOT (strpos(p_stream_id, '-') > 1
                AND substr(p_stream_id, strpos(p_stream_id, '-') + 1, 37) = v_org || '.'
                AND octet_length(p_stream_id) = char_length(p_stream_id)
                AND octet_length(p_stream_id) <= 200) THEN
          RAISE EXCEPTION 'stream % does not belong to organisation %', p_stream_id, v_org
            USING ERRCODE = 'YB003';
        END IF;
        -- A loop of simple expressions: no query per event.
        FOR i IN 1 .. v_count LOOP
          IF (convert_from(p_metadata[i], 'UTF8')::json ->> 'organisationId') IS DISTINCT FROM v_org THEN
            RAISE EXCEPTION 'event % names another organisation than stream %', p_event_ids[i], p_stream_id
              USING ERRCODE = 'YB003';
          END IF;
        END LOOP;

        -- Takes no xid: the xid comes with the INSERT below, under the lock.
        PERFORM pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, hashtext(p_stream_id));

        SELECT s.last_revision, s.last_hash, s.last_recorded_at
          INTO v_head_revision, v_head_hash, v_head_recorded_at
          FROM public.streams AS s WHERE s.stream_id = p_stream_id;

        -- Idempotency: the batch's first id already sits where the batch would go.
        IF p_expected IN ('any', 'stream_exists') THEN
          SELECT e.revision INTO v_first_found
            FROM public.events AS e
           WHERE e.event_id = p_event_ids[1] AND e.stream_id = p_stream_id
           ORDER BY e.revision LIMIT 1;
        ELSE
          v_after := CASE WHEN p_expected = 'no_stream' THEN -1 ELSE p_expected_revision END;
          IF v_head_revision > v_after THEN
            SELECT e.revision INTO v_first_found
              FROM public.events AS e
             WHERE e.stream_id = p_stream_id AND e.revision = v_after + 1
               AND e.event_id = p_event_ids[1];
          END IF;
        END IF;
        IF v_first_found IS NOT NULL THEN
          SELECT array_agg(e.event_id ORDER BY e.revision) INTO v_found_ids
            FROM public.events AS e
           WHERE e.stream_id = p_stream_id
             AND e.revision BETWEEN v_first_found AND v_first_found + v_count - 1;
          IF v_found_ids IS DISTINCT FROM p_event_ids THEN
            RAISE EXCEPTION 'wrong expected version on %', p_stream_id
              USING ERRCODE = 'YB001', DETAIL = coalesce(v_head_revision::text, 'no_stream');
          END IF;
          RETURN QUERY
            SELECT e.revision, e.tx_id, e.global_seq
              FROM public.events AS e
             WHERE e.stream_id = p_stream_id AND e.revision = v_first_found + v_count - 1;
          RETURN;
        END IF;

        IF (p_expected = 'no_stream' AND v_head_revision IS NOT NULL)
           OR (p_expected = 'stream_exists' AND v_head_revision IS NULL)
           OR (p_expected = 'exact' AND v_head_revision IS DISTINCT FROM p_expected_revision) THEN
          RAISE EXCEPTION 'wrong expected version on %', p_stream_id
            USING ERRCODE = 'YB001', DETAIL = coalesce(v_head_revision::text, 'no_stream');
        END IF;

        -- Taken under the lock and never behind the stream's last event.
        v_recorded_at := greatest(clock_timestamp(), v_head_recorded_at);
        v_micros := (extract(epoch FROM v_recorded_at) * 1000000)::bigint::text;
        v_after := coalesce(v_head_revision, -1);
        v_prev := coalesce(v_head_hash, decode(repeat('00', 32), 'hex'));
        FOR i IN 1 .. v_count LOOP
          v_header := convert_to(
            p_stream_id || E'\\n' || (v_after + i)::text || E'\\n' || p_event_ids[i]::text
              || E'\\n' || p_types[i] || E'\\n' || p_schema_versions[i]::text
              || E'\\n' || v_org || E'\\n' || v_micros,
            'UTF8');
          v_prev_hashes[i] := v_prev;
          v_prev := sha256(v_prev || int4send(length(v_header)) || v_header
                           || int4send(length(p_metadata[i])) || p_metadata[i] || p_data[i]);
          v_hashes[i] := v_prev;
        END LOOP;

        WITH inserted AS (
          INSERT INTO public.events (org_id, stream_id, revision, event_id, type, schema_version,
                                     data, metadata, actor_id, request_id, recorded_at,
                                     prev_hash, hash)
          SELECT p_org_id, p_stream_id, v_after + b.ord, b.event_id, b.type, b.schema_version,
                 b.data, b.metadata, b.actor_id, b.request_id, v_recorded_at,
                 b.prev_hash, b.hash
            FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata,
                        p_actor_ids, p_request_ids, v_prev_hashes, v_hashes)
                 WITH ORDINALITY AS b(event_id, type, schema_version, data, metadata,
                                      actor_id, request_id, prev_hash, hash, ord)
           ORDER BY b.ord
          RETURNING global_seq
        )
        SELECT max(inserted.global_seq) INTO v_last_seq FROM inserted;

        -- The head, unless events_advance_stream_head kept it (the owner's own session).
        IF session_user <> current_user THEN
          IF v_after = -1 THEN
            INSERT INTO public.streams (stream_id, org_id, last_revision, last_hash, last_recorded_at)
            VALUES (p_stream_id, p_org_id, v_count - 1, v_prev, v_recorded_at);
          ELSE
            UPDATE public.streams
               SET last_revision = v_after + v_count, last_hash = v_prev,
                   last_recorded_at = v_recorded_at
             WHERE stream_id = p_stream_id AND last_revision = v_after;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'events of % do not follow the stream''s head', p_stream_id
                USING ERRCODE = 'YB004';
            END IF;
          END IF;
        END IF;

        out_revision := v_after + v_count;
        out_tx_id := pg_current_xact_id();
        out_global_seq := v_last_seq;
        RETURN NEXT;
      END $$`);

    // The one-event append: the same checks, hash and insert as append_to_stream, with scalar
    // arguments (bytea arrive binary, nothing to parse) and as few statements as it can: every
    // plpgsql expression is set up again in each transaction, and an append is a transaction.
    // Returns {revision, tx_id, global_seq}: a scalar result spares the caller a function scan.
    await q(`
      CREATE FUNCTION append_event(
        p_stream_id         text,
        p_org_id            uuid,
        p_expected          text,
        p_expected_revision bigint,
        p_event_id          uuid,
        p_type              text,
        p_schema_version    smallint,
        p_data              bytea,
        p_metadata          bytea,
        p_actor_id          text,
        p_request_id        text
      ) RETURNS bigint[]
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_org         text := p_org_id::text;
        v_revision    bigint;
        v_prev        bytea;
        v_recorded_at timestamptz;
        v_header      bytea;
        v_hash        bytea;
        v_result      bigint[];
      BEGIN
        -- Why each check is here: see append_to_stream.
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
          RAISE EXCEPTION 'append_event must be the first write of its transaction'
            USING ERRCODE = 'YB002';
        END IF;
        IF p_expected IS NULL
           OR p_expected NOT IN ('any', 'no_stream', 'stream_exists', 'exact')
           OR (p_expected = 'exact' AND p_expected_revision IS NULL)
           OR p_event_id IS NULL OR p_metadata IS NULL OR p_schema_version < 1 THEN
          RAISE EXCEPTION 'append_event: malformed event' USING ERRCODE = '22023';
        END IF;
        IF NOT (strpos(p_stream_id, '-') > 1
                AND substr(p_stream_id, strpos(p_stream_id, '-') + 1, 37) = v_org || '.'
                AND octet_length(p_stream_id) = char_length(p_stream_id)
                AND octet_length(p_stream_id) <= 200)
           OR (convert_from(p_metadata, 'UTF8')::json ->> 'organisationId')
              IS DISTINCT FROM v_org THEN
          RAISE EXCEPTION 'stream % and event % name different organisations',
            p_stream_id, p_event_id
            USING ERRCODE = 'YB003';
        END IF;

        PERFORM pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, hashtext(p_stream_id));

        SELECT s.last_revision, s.last_hash, s.last_recorded_at
          INTO v_revision, v_prev, v_recorded_at
          FROM public.streams AS s WHERE s.stream_id = p_stream_id;

        -- Idempotency: only an existing stream can already hold the event.
        IF v_revision IS NOT NULL THEN
          IF p_expected IN ('any', 'stream_exists') THEN
            SELECT ARRAY[e.revision, e.tx_id::text::bigint, e.global_seq] INTO v_result
              FROM public.events AS e
             WHERE e.event_id = p_event_id AND e.stream_id = p_stream_id
             ORDER BY e.revision LIMIT 1;
          ELSIF v_revision > coalesce(p_expected_revision, -1) THEN
            SELECT ARRAY[e.revision, e.tx_id::text::bigint, e.global_seq] INTO v_result
              FROM public.events AS e
             WHERE e.stream_id = p_stream_id AND e.revision = coalesce(p_expected_revision, -1) + 1
               AND e.event_id = p_event_id;
          END IF;
          IF v_result IS NOT NULL THEN
            RETURN v_result;
          END IF;
        END IF;

        IF (p_expected = 'no_stream' AND v_revision IS NOT NULL)
           OR (p_expected = 'stream_exists' AND v_revision IS NULL)
           OR (p_expected = 'exact' AND v_revision IS DISTINCT FROM p_expected_revision) THEN
          RAISE EXCEPTION 'wrong expected version on %', p_stream_id
            USING ERRCODE = 'YB001', DETAIL = coalesce(v_revision::text, 'no_stream');
        END IF;

        -- From here v_revision is the new event's revision and v_prev the hash it extends.
        v_revision := coalesce(v_revision + 1, 0);
        v_prev := coalesce(v_prev, '\\x${'00'.repeat(32)}'::bytea);
        v_recorded_at := greatest(clock_timestamp(), v_recorded_at);
        -- concat_ws renders integers and the uuid as the ::text casts in append_to_stream do.
        v_header := convert_to(
          concat_ws(E'\\n', p_stream_id, v_revision, p_event_id, p_type, p_schema_version, v_org,
                    (extract(epoch FROM v_recorded_at) * 1000000)::bigint),
          'UTF8');
        v_hash := sha256(v_prev || int4send(length(v_header)) || v_header
                         || int4send(length(p_metadata)) || p_metadata || p_data);
        INSERT INTO public.events (org_id, stream_id, revision, event_id, type, schema_version,
                                   data, metadata, actor_id, request_id, recorded_at,
                                   prev_hash, hash)
        VALUES (p_org_id, p_stream_id, v_revision, p_event_id, p_type, p_schema_version,
                p_data, p_metadata, p_actor_id, p_request_id, v_recorded_at, v_prev, v_hash)
        RETURNING ARRAY[revision, tx_id::text::bigint, global_seq] INTO v_result;
        -- As in append_to_stream.
        IF session_user <> current_user THEN
          IF v_revision = 0 THEN
            INSERT INTO public.streams (stream_id, org_id, last_revision, last_hash, last_recorded_at)
            VALUES (p_stream_id, p_org_id, 0, v_hash, v_recorded_at);
          ELSE
            UPDATE public.streams
               SET last_revision = v_revision, last_hash = v_hash, last_recorded_at = v_recorded_at
             WHERE stream_id = p_stream_id AND last_revision = v_revision - 1;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'event % of % does not follow the stream''s head', v_revision, p_stream_id
                USING ERRCODE = 'YB004';
            END IF;
          END IF;
        END IF;

        RETURN v_result;
      END $$`);

    await q(`REVOKE ALL ON events, streams FROM PUBLIC`);
    await q(`GRANT SELECT, INSERT ON events TO beecastle_app`);
    await q(`GRANT SELECT ON streams TO beecastle_app`);
    await q(
      `REVOKE ALL ON FUNCTION append_to_stream(text, uuid, text, bigint, uuid[], text[], smallint[], bytea[], bytea[], text[], text[]) FROM PUBLIC`,
    );
    await q(
      `GRANT EXECUTE ON FUNCTION append_to_stream(text, uuid, text, bigint, uuid[], text[], smallint[], bytea[], bytea[], text[], text[]) TO beecastle_app`,
    );
    await q(`REVOKE ALL ON FUNCTION ${APPEND_EVENT} FROM PUBLIC`);
    await q(`GRANT EXECUTE ON FUNCTION ${APPEND_EVENT} TO beecastle_app`);
    await q(`REVOKE ALL ON FUNCTION events_advance_stream_head() FROM PUBLIC`);
    await q(`REVOKE ALL ON FUNCTION events_refuse_change() FROM PUBLIC`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION ${APPEND_EVENT}`);
    await queryRunner.query(
      `DROP FUNCTION append_to_stream(text, uuid, text, bigint, uuid[], text[], smallint[], bytea[], bytea[], text[], text[])`,
    );
    await queryRunner.query(`DROP TABLE events`);
    await queryRunner.query(`DROP FUNCTION events_advance_stream_head()`);
    await queryRunner.query(`DROP FUNCTION events_refuse_change()`);
    await queryRunner.query(`DROP TABLE streams`);
  }
}
