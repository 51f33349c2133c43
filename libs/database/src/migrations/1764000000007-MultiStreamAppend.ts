import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * `append_to_streams`: several streams in one atomic append, one round trip (the port's
 * `appendToStreams`; bulk imports write hundreds of new contacts per call through it).
 *
 * It is `append_to_stream` (EventLog migration) for many streams at once, with the same checks,
 * errors, idempotency, hash chain, head upkeep and grants, and two things only the whole can need:
 * - Every stream is locked before anything else happens, because the first INSERT takes the xid
 *   and an xid taken before a stream's lock breaks "revision order = global order" (YB002 there).
 *   The locks are the single-stream appends' own (same class, same key), taken in ascending key
 *   order: two multi-stream appends over the same streams then queue instead of deadlocking, and a
 *   single-stream append holds one lock only, so it can close no cycle.
 * - Every stream is checked, in the caller's order, before any row is written; the first conflict
 *   raises YB001 with DETAIL `{"stream": ..., "actual": <revision or "no_stream">}`.
 * One `recorded_at` for the whole append, never behind any of its streams' last events, so the
 * append's events read in log order with non-decreasing times. A stream may appear only once.
 *
 * Arguments: per stream (in order) its name, organisation, expected mode and revision and event
 * count; per event (grouped by stream, in the same order) the columns append_to_stream takes.
 * Returns {revision, tx_id, global_seq} of each stream's last event, flattened, in the caller's
 * order (for a stream that was an exact retry, those of the original append).
 */

// As in the EventLog migration: the per-stream lock must be the very same lock.
const STREAM_LOCK_CLASS = 0x62637374; // 'bcst'

const APPEND_TO_STREAMS =
  'append_to_streams(text[], uuid[], text[], bigint[], integer[], uuid[], text[], smallint[], bytea[], bytea[], text[], text[])';

export class MultiStreamAppend1764000000007 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE FUNCTION append_to_streams(
        p_stream_ids         text[],
        p_org_ids            uuid[],
        p_expected           text[],
        p_expected_revisions bigint[],
        p_counts             integer[],
        p_event_ids          uuid[],
        p_types              text[],
        p_schema_versions    smallint[],
        p_data               bytea[],
        p_metadata           bytea[],
        p_actor_ids          text[],
        p_request_ids        text[]
      ) RETURNS bigint[]
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_streams          int := coalesce(cardinality(p_stream_ids), 0);
        v_count            int := coalesce(cardinality(p_event_ids), 0);
        v_genesis          bytea := '\\x${'00'.repeat(32)}'::bytea;
        v_bad              int;
        v_heads            bigint[];
        v_head_hashes      bytea[];
        v_latest           timestamptz;
        v_recorded_at      timestamptz;
        v_micros           text;
        v_offset           int;
        v_n                int;
        v_mode             text;
        v_stream           text;
        v_org              text;
        v_after            bigint;
        v_first_found      bigint;
        v_found_ids        uuid[];
        v_found            bigint[];
        v_header           bytea;
        v_prev             bytea;
        v_written          int := 0;
        v_existing         int := 0;
        v_updated          int;
        v_tx               bigint;
        -- Per stream: the new head (null: written by an earlier append, this is its retry).
        v_new_heads        bigint[] := array_fill(NULL::bigint, ARRAY[v_streams]);
        v_last_hashes      bytea[] := array_fill(NULL::bytea, ARRAY[v_streams]);
        v_last_seqs        bigint[];
        v_result           bigint[] := array_fill(NULL::bigint, ARRAY[3 * v_streams]);
        -- Per event: what the insert needs beyond the arguments (null: not written).
        v_event_streams    text[] := array_fill(NULL::text, ARRAY[v_count]);
        v_event_orgs       uuid[] := array_fill(NULL::uuid, ARRAY[v_count]);
        v_revisions        bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
        v_prev_hashes      bytea[] := array_fill(NULL::bytea, ARRAY[v_count]);
        v_hashes           bytea[] := array_fill(NULL::bytea, ARRAY[v_count]);
      BEGIN
        -- Why: see append_to_stream, and the header above.
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
          RAISE EXCEPTION 'append_to_streams must be the first write of its transaction'
            USING ERRCODE = 'YB002';
        END IF;
        IF v_streams = 0 OR v_count = 0
           OR cardinality(p_org_ids) IS DISTINCT FROM v_streams
           OR cardinality(p_expected) IS DISTINCT FROM v_streams
           OR cardinality(p_expected_revisions) IS DISTINCT FROM v_streams
           OR cardinality(p_counts) IS DISTINCT FROM v_streams
           OR cardinality(p_types) IS DISTINCT FROM v_count
           OR cardinality(p_schema_versions) IS DISTINCT FROM v_count
           OR cardinality(p_data) IS DISTINCT FROM v_count
           OR cardinality(p_metadata) IS DISTINCT FROM v_count
           OR cardinality(p_actor_ids) IS DISTINCT FROM v_count
           OR cardinality(p_request_ids) IS DISTINCT FROM v_count
           OR array_position(p_org_ids, NULL) IS NOT NULL
           OR array_position(p_event_ids, NULL) IS NOT NULL
           OR array_position(p_metadata, NULL) IS NOT NULL
           OR 1 > ANY (p_counts) OR array_position(p_counts, NULL) IS NOT NULL
           OR (SELECT sum(c) FROM unnest(p_counts) AS c) IS DISTINCT FROM v_count
           OR 1 > ANY (p_schema_versions)
           OR EXISTS (SELECT FROM unnest(p_expected, p_expected_revisions) AS x(mode, revision)
                       WHERE x.mode IS NULL
                          OR x.mode NOT IN ('any', 'no_stream', 'stream_exists', 'exact')
                          OR (x.mode = 'exact' AND x.revision IS NULL))
           OR (SELECT count(DISTINCT s) FROM unnest(p_stream_ids) AS s) <> v_streams THEN
          RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
        END IF;
        -- The stream name checks of append_to_stream, for each stream.
        SELECT u.ord INTO v_bad
          FROM unnest(p_stream_ids, p_org_ids) WITH ORDINALITY AS u(stream_id, org_id, ord)
         WHERE NOT coalesce(strpos(u.stream_id, '-') > 1
                 AND substr(u.stream_id, strpos(u.stream_id, '-') + 1, 37) = u.org_id::text || '.'
                 AND octet_length(u.stream_id) = char_length(u.stream_id)
                 AND octet_length(u.stream_id) <= 200, false)
         ORDER BY u.ord LIMIT 1;
        IF v_bad IS NOT NULL THEN
          RAISE EXCEPTION 'stream % does not belong to organisation %',
            p_stream_ids[v_bad], p_org_ids[v_bad]
            USING ERRCODE = 'YB003';
        END IF;
        -- Each event's metadata names its stream's organisation. A loop of simple expressions.
        v_offset := 0;
        FOR j IN 1 .. v_streams LOOP
          v_org := p_org_ids[j]::text;
          FOR i IN v_offset + 1 .. v_offset + p_counts[j] LOOP
            IF (convert_from(p_metadata[i], 'UTF8')::json ->> 'organisationId') IS DISTINCT FROM v_org THEN
              RAISE EXCEPTION 'event % names another organisation than stream %',
                p_event_ids[i], p_stream_ids[j]
                USING ERRCODE = 'YB003';
            END IF;
          END LOOP;
          v_offset := v_offset + p_counts[j];
        END LOOP;

        -- Every lock before the first write (which takes the xid), in one deterministic order.
        PERFORM pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, k.key)
           FROM (SELECT DISTINCT hashtext(s) AS key FROM unnest(p_stream_ids) AS s ORDER BY 1) AS k;

        SELECT array_agg(s.last_revision ORDER BY u.ord), array_agg(s.last_hash ORDER BY u.ord),
               max(s.last_recorded_at)
          INTO v_heads, v_head_hashes, v_latest
          FROM unnest(p_stream_ids) WITH ORDINALITY AS u(stream_id, ord)
          LEFT JOIN public.streams AS s ON s.stream_id = u.stream_id;

        -- Each stream as append_to_stream checks it: an exact retry, or the expected revision.
        v_offset := 0;
        FOR j IN 1 .. v_streams LOOP
          v_n := p_counts[j];
          v_mode := p_expected[j];
          v_stream := p_stream_ids[j];
          v_first_found := NULL;
          -- Idempotency: only an existing stream can already hold the events.
          IF v_heads[j] IS NOT NULL THEN
            IF v_mode IN ('any', 'stream_exists') THEN
              SELECT e.revision INTO v_first_found
                FROM public.events AS e
               WHERE e.event_id = p_event_ids[v_offset + 1] AND e.stream_id = v_stream
               ORDER BY e.revision LIMIT 1;
            ELSE
              v_after := CASE WHEN v_mode = 'no_stream' THEN -1 ELSE p_expected_revisions[j] END;
              IF v_heads[j] > v_after THEN
                SELECT e.revision INTO v_first_found
                  FROM public.events AS e
                 WHERE e.stream_id = v_stream AND e.revision = v_after + 1
                   AND e.event_id = p_event_ids[v_offset + 1];
              END IF;
            END IF;
          END IF;
          IF v_first_found IS NOT NULL THEN
            SELECT array_agg(e.event_id ORDER BY e.revision) INTO v_found_ids
              FROM public.events AS e
             WHERE e.stream_id = v_stream
               AND e.revision BETWEEN v_first_found AND v_first_found + v_n - 1;
            IF v_found_ids IS DISTINCT FROM p_event_ids[v_offset + 1 : v_offset + v_n] THEN
              RAISE EXCEPTION 'wrong expected version on %', v_stream
                USING ERRCODE = 'YB001',
                      DETAIL = json_build_object('stream', v_stream,
                                                 'actual', v_heads[j]::text)::text;
            END IF;
            SELECT ARRAY[e.revision, e.tx_id::text::bigint, e.global_seq] INTO v_found
              FROM public.events AS e
             WHERE e.stream_id = v_stream AND e.revision = v_first_found + v_n - 1;
            v_result[3 * j - 2] := v_found[1];
            v_result[3 * j - 1] := v_found[2];
            v_result[3 * j] := v_found[3];
          ELSIF (v_mode = 'no_stream' AND v_heads[j] IS NOT NULL)
             OR (v_mode = 'stream_exists' AND v_heads[j] IS NULL)
             OR (v_mode = 'exact' AND v_heads[j] IS DISTINCT FROM p_expected_revisions[j]) THEN
            RAISE EXCEPTION 'wrong expected version on %', v_stream
              USING ERRCODE = 'YB001',
                    DETAIL = json_build_object('stream', v_stream,
                                               'actual', coalesce(v_heads[j]::text, 'no_stream'))::text;
          ELSE
            v_new_heads[j] := coalesce(v_heads[j], -1) + v_n;
          END IF;
          v_offset := v_offset + v_n;
        END LOOP;

        -- The chain, as append_to_stream computes it (hash-chain.ts), one stream after another.
        v_recorded_at := greatest(clock_timestamp(), v_latest);
        v_micros := (extract(epoch FROM v_recorded_at) * 1000000)::bigint::text;
        v_offset := 0;
        FOR j IN 1 .. v_streams LOOP
          IF v_new_heads[j] IS NOT NULL THEN
            v_after := coalesce(v_heads[j], -1);
            v_prev := coalesce(v_head_hashes[j], v_genesis);
            v_stream := p_stream_ids[j];
            v_org := p_org_ids[j]::text;
            FOR i IN 1 .. p_counts[j] LOOP
              v_header := convert_to(
                v_stream || E'\\n' || (v_after + i)::text || E'\\n' || p_event_ids[v_offset + i]::text
                  || E'\\n' || p_types[v_offset + i] || E'\\n' || p_schema_versions[v_offset + i]::text
                  || E'\\n' || v_org || E'\\n' || v_micros,
                'UTF8');
              v_prev_hashes[v_offset + i] := v_prev;
              v_prev := sha256(v_prev || int4send(length(v_header)) || v_header
                               || int4send(length(p_metadata[v_offset + i])) || p_metadata[v_offset + i]
                               || p_data[v_offset + i]);
              v_hashes[v_offset + i] := v_prev;
              v_revisions[v_offset + i] := v_after + i;
              v_event_streams[v_offset + i] := v_stream;
              v_event_orgs[v_offset + i] := p_org_ids[j];
            END LOOP;
            v_last_hashes[j] := v_prev;
            v_written := v_written + 1;
            IF v_heads[j] IS NOT NULL THEN
              v_existing := v_existing + 1;
            END IF;
          END IF;
          v_offset := v_offset + p_counts[j];
        END LOOP;

        IF v_written > 0 THEN
          WITH inserted AS (
            INSERT INTO public.events (org_id, stream_id, revision, event_id, type, schema_version,
                                       data, metadata, actor_id, request_id, recorded_at,
                                       prev_hash, hash)
            SELECT b.org_id, b.stream_id, b.revision, b.event_id, b.type, b.schema_version,
                   b.data, b.metadata, b.actor_id, b.request_id, v_recorded_at,
                   b.prev_hash, b.hash
              FROM unnest(v_event_orgs, v_event_streams, v_revisions, p_event_ids, p_types,
                          p_schema_versions, p_data, p_metadata, p_actor_ids, p_request_ids,
                          v_prev_hashes, v_hashes)
                   WITH ORDINALITY AS b(org_id, stream_id, revision, event_id, type,
                                        schema_version, data, metadata, actor_id, request_id,
                                        prev_hash, hash, ord)
             WHERE b.revision IS NOT NULL
             ORDER BY b.ord
            RETURNING stream_id, global_seq
          )
          SELECT array_agg(x.global_seq ORDER BY u.ord) INTO v_last_seqs
            FROM unnest(p_stream_ids) WITH ORDINALITY AS u(stream_id, ord)
            LEFT JOIN (SELECT i.stream_id, max(i.global_seq) AS global_seq
                         FROM inserted AS i GROUP BY i.stream_id) AS x
                   ON x.stream_id = u.stream_id;

          -- The heads, unless events_advance_stream_head kept them (the owner's own session).
          IF session_user <> current_user THEN
            INSERT INTO public.streams (stream_id, org_id, last_revision, last_hash, last_recorded_at)
            SELECT u.stream_id, u.org_id, u.new_head, u.last_hash, v_recorded_at
              FROM unnest(p_stream_ids, p_org_ids, v_heads, v_new_heads, v_last_hashes)
                   AS u(stream_id, org_id, head, new_head, last_hash)
             WHERE u.head IS NULL AND u.new_head IS NOT NULL;
            IF v_existing > 0 THEN
              UPDATE public.streams AS s
                 SET last_revision = u.new_head, last_hash = u.last_hash,
                     last_recorded_at = v_recorded_at
                FROM unnest(p_stream_ids, v_heads, v_new_heads, v_last_hashes)
                     AS u(stream_id, head, new_head, last_hash)
               WHERE u.head IS NOT NULL AND u.new_head IS NOT NULL
                 AND s.stream_id = u.stream_id AND s.last_revision = u.head;
              GET DIAGNOSTICS v_updated = ROW_COUNT;
              IF v_updated <> v_existing THEN
                RAISE EXCEPTION 'events of % streams do not follow their heads', v_existing - v_updated
                  USING ERRCODE = 'YB004';
              END IF;
            END IF;
          END IF;

          v_tx := pg_current_xact_id()::text::bigint;
          FOR j IN 1 .. v_streams LOOP
            IF v_new_heads[j] IS NOT NULL THEN
              v_result[3 * j - 2] := v_new_heads[j];
              v_result[3 * j - 1] := v_tx;
              v_result[3 * j] := v_last_seqs[j];
            END IF;
          END LOOP;
        END IF;

        RETURN v_result;
      END $$`);

    await q(`REVOKE ALL ON FUNCTION ${APPEND_TO_STREAMS} FROM PUBLIC`);
    await q(`GRANT EXECUTE ON FUNCTION ${APPEND_TO_STREAMS} TO beecastle_app`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION ${APPEND_TO_STREAMS}`);
  }
}
