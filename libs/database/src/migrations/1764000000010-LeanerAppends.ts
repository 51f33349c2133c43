import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MultiStreamAppend1764000000007 } from './1764000000007-MultiStreamAppend';

/*
 * Cheaper appends, same guarantees (ARCHITECTURE.md §4; the EventLog and MultiStreamAppend
 * migrations say what each check is for).
 *
 * - Plans that do not depend on statistics. PL/pgSQL caches a generic plan per statement after a
 *   few calls; on a fresh database the heads and events tables are tiny when that happens, so the
 *   planner picked sequential scans (and a hash join over all the heads) and kept them while the
 *   tables grew: an 8-stream append_to_streams went from 1.4 ms to 4.5 ms of database time within
 *   a few thousand calls, and ANALYZE of the empty tables after migrating does not prevent it.
 *   The append functions now plan with enable_seqscan off, and every statement reaches the tables
 *   through an index condition (a key or `= ANY` of the append's own streams), so no plan can come
 *   to scan a whole table, however small the table was when it was planned.
 * - append_to_streams does the same work in fewer statements: the checks before the lock are
 *   simple expressions instead of a statement with three sub-selects and another for the names,
 *   and the lock statement also counts the distinct stream names. Each statement costs executor
 *   start-up on every call, and plpgsql sets each expression up again in every transaction (an
 *   append is one): about 2-3 µs per expression, so a shorter function is a cheaper one. Writing
 *   the heads as CTEs of the events insert measured dearer than separate statements.
 * - append_to_streams always uses generic plans: the plan cache kept re-planning a statement
 *   whose custom plans it judged cheaper, at each call.
 * The adapter also sends the arrays in binary (binary-arrays.ts). An 8-event append_to_streams now
 * costs about 0.8 ms of database CPU, of which the two inserts take half.
 */

// As in the EventLog migration: the per-stream lock must be the very same lock.
const STREAM_LOCK_CLASS = 0x62637374; // 'bcst'

const APPEND_TO_STREAMS =
  'append_to_streams(text[], uuid[], text[], bigint[], integer[], uuid[], text[], smallint[], bytea[], bytea[], text[], text[])';
const APPEND_TO_STREAM =
  'append_to_stream(text, uuid, text, bigint, uuid[], text[], smallint[], bytea[], bytea[], text[], text[])';
const APPEND_EVENT =
  'append_event(text, uuid, text, bigint, uuid, text, smallint, bytea, bytea, text, text)';

export class LeanerAppends1764000000010 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    // Their statements look streams and events up by key already; only the plans change.
    await q(`ALTER FUNCTION ${APPEND_EVENT} SET enable_seqscan = off`);
    await q(`ALTER FUNCTION ${APPEND_TO_STREAM} SET enable_seqscan = off`);

    await q(`
      CREATE OR REPLACE FUNCTION append_to_streams(
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
      LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp
      SET enable_seqscan = off
      SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_streams       int := coalesce(cardinality(p_stream_ids), 0);
        v_count         int := coalesce(cardinality(p_event_ids), 0);
        v_offset        int := 0;
        v_n             int;
        v_mode          text;
        v_stream        text;
        v_org           text;
        v_names         bigint;
        v_found_at      bigint[];
        v_found_heads   bigint[];
        v_found_hashes  bytea[];
        v_latest        timestamptz;
        v_after         bigint;
        v_first_found   bigint;
        v_found_ids     uuid[];
        v_found         bigint[];
        v_recorded_at   timestamptz;
        v_micros        text;
        v_header        bytea;
        v_prev          bytea;
        v_written       int := 0;
        v_moved         text[] := '{}';
        v_updated       bigint;
        v_seqs          bigint[];
        v_tx            bigint;
        -- The heads' own rows, unless events_advance_stream_head keeps them (the owner's session).
        v_keep_heads    boolean := session_user <> current_user;
        -- Per stream: its head before and after (after null: an exact retry, nothing written).
        v_heads         bigint[] := array_fill(NULL::bigint, ARRAY[v_streams]);
        v_head_hashes   bytea[] := array_fill(NULL::bytea, ARRAY[v_streams]);
        v_new_heads     bigint[] := array_fill(NULL::bigint, ARRAY[v_streams]);
        v_last_hashes   bytea[] := array_fill(NULL::bytea, ARRAY[v_streams]);
        v_result        bigint[] := array_fill(NULL::bigint, ARRAY[3 * v_streams]);
        -- Per event: what the insert needs beyond the arguments (revision null: not written).
        v_event_streams text[] := array_fill(NULL::text, ARRAY[v_count]);
        v_event_orgs    uuid[] := array_fill(NULL::uuid, ARRAY[v_count]);
        v_revisions     bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
        v_prev_hashes   bytea[] := array_fill(NULL::bytea, ARRAY[v_count]);
        v_hashes        bytea[] := array_fill(NULL::bytea, ARRAY[v_count]);
      BEGIN
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
           OR cardinality(p_request_ids) IS DISTINCT FROM v_count THEN
          RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
        END IF;
        -- Each stream and its events, before any lock: well formed, the stream's name carries its
        -- organisation, and each event's metadata names it. Simple expressions, no query.
        FOR j IN 1 .. v_streams LOOP
          v_n := p_counts[j];
          v_mode := p_expected[j];
          v_stream := p_stream_ids[j];
          v_org := p_org_ids[j]::text;
          IF v_n IS NULL OR v_n < 1 OR v_offset + v_n > v_count OR v_org IS NULL
             OR v_mode IS NULL OR v_mode NOT IN ('any', 'no_stream', 'stream_exists', 'exact')
             OR (v_mode = 'exact' AND p_expected_revisions[j] IS NULL) THEN
            RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
          END IF;
          IF NOT coalesce(strpos(v_stream, '-') > 1
                 AND substr(v_stream, strpos(v_stream, '-') + 1, 37) = v_org || '.'
                 AND octet_length(v_stream) = char_length(v_stream)
                 AND octet_length(v_stream) <= 200, false) THEN
            RAISE EXCEPTION 'stream % does not belong to organisation %', v_stream, v_org
              USING ERRCODE = 'YB003';
          END IF;
          FOR i IN v_offset + 1 .. v_offset + v_n LOOP
            IF p_event_ids[i] IS NULL OR p_metadata[i] IS NULL OR p_schema_versions[i] < 1 THEN
              RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
            END IF;
            IF (convert_from(p_metadata[i], 'UTF8')::json ->> 'organisationId') IS DISTINCT FROM v_org THEN
              RAISE EXCEPTION 'event % names another organisation than stream %', p_event_ids[i], v_stream
                USING ERRCODE = 'YB003';
            END IF;
          END LOOP;
          v_offset := v_offset + v_n;
        END LOOP;
        IF v_offset <> v_count THEN
          RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
        END IF;

        -- Every lock before the first write (which takes the xid), in ascending key order, as
        -- before. The same statement counts the distinct names: a stream may appear only once.
        SELECT sum(l.names) INTO v_names
          FROM (SELECT k.names, pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, k.key)
                  FROM (SELECT hashtext(s) AS key, count(DISTINCT s) AS names
                          FROM unnest(p_stream_ids) AS s GROUP BY 1 ORDER BY 1) AS k) AS l;
        IF v_names <> v_streams THEN
          RAISE EXCEPTION 'append_to_streams: malformed append' USING ERRCODE = '22023';
        END IF;

        -- The heads that exist, by key (the = ANY keeps any plan to the append's own streams).
        SELECT array_agg(u.ord), array_agg(s.last_revision), array_agg(s.last_hash),
               max(s.last_recorded_at)
          INTO v_found_at, v_found_heads, v_found_hashes, v_latest
          FROM public.streams AS s
          JOIN unnest(p_stream_ids) WITH ORDINALITY AS u(stream_id, ord) ON u.stream_id = s.stream_id
         WHERE s.stream_id = ANY (p_stream_ids);
        FOR k IN 1 .. coalesce(cardinality(v_found_at), 0) LOOP
          v_heads[v_found_at[k]] := v_found_heads[k];
          v_head_hashes[v_found_at[k]] := v_found_hashes[k];
        END LOOP;

        -- Each stream in the caller's order: an exact retry, or the expected revision.
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
            v_written := v_written + 1;
            IF v_heads[j] IS NOT NULL THEN
              v_moved := v_moved || v_stream;
            END IF;
          END IF;
          v_offset := v_offset + v_n;
        END LOOP;
        IF v_written = 0 THEN
          RETURN v_result;
        END IF;

        -- The chain, as append_to_stream computes it (hash-chain.ts), one stream after another.
        -- concat_ws renders the revision, uuid and version as their ::text casts do.
        v_recorded_at := greatest(clock_timestamp(), v_latest);
        v_micros := (extract(epoch FROM v_recorded_at) * 1000000)::bigint::text;
        v_offset := 0;
        FOR j IN 1 .. v_streams LOOP
          v_n := p_counts[j];
          IF v_new_heads[j] IS NOT NULL THEN
            v_after := coalesce(v_heads[j], -1) - v_offset;
            v_prev := coalesce(v_head_hashes[j], '\\x${'00'.repeat(32)}'::bytea);
            v_stream := p_stream_ids[j];
            v_org := p_org_ids[j]::text;
            FOR i IN v_offset + 1 .. v_offset + v_n LOOP
              v_header := convert_to(
                concat_ws(E'\\n', v_stream, v_after + i, p_event_ids[i], p_types[i],
                          p_schema_versions[i], v_org, v_micros),
                'UTF8');
              v_prev_hashes[i] := v_prev;
              v_prev := sha256(v_prev || int4send(length(v_header)) || v_header
                               || int4send(length(p_metadata[i])) || p_metadata[i] || p_data[i]);
              v_hashes[i] := v_prev;
              v_revisions[i] := v_after + i;
              v_event_streams[i] := v_stream;
              v_event_orgs[i] := p_org_ids[j];
            END LOOP;
            v_last_hashes[j] := v_prev;
          END IF;
          v_offset := v_offset + v_n;
        END LOOP;

        -- Identity values rise in insertion order, which is the caller's order, so the sorted
        -- global_seqs line up with the written events.
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
          RETURNING global_seq
        )
        SELECT array_agg(i.global_seq ORDER BY i.global_seq) INTO v_seqs FROM inserted AS i;

        -- The heads, unless events_advance_stream_head kept them (the owner's own session).
        -- Separate statements: as CTEs of the insert they cost more than they save.
        IF v_keep_heads THEN
          INSERT INTO public.streams (stream_id, org_id, last_revision, last_hash, last_recorded_at)
          SELECT u.stream_id, u.org_id, u.new_head, u.last_hash, v_recorded_at
            FROM unnest(p_stream_ids, p_org_ids, v_heads, v_new_heads, v_last_hashes)
                 AS u(stream_id, org_id, head, new_head, last_hash)
           WHERE u.head IS NULL AND u.new_head IS NOT NULL;
          IF cardinality(v_moved) > 0 THEN
            UPDATE public.streams AS s
               SET last_revision = u.new_head, last_hash = u.last_hash,
                   last_recorded_at = v_recorded_at
              FROM unnest(p_stream_ids, v_heads, v_new_heads, v_last_hashes)
                   AS u(stream_id, head, new_head, last_hash)
             WHERE s.stream_id = ANY (v_moved)
               AND s.stream_id = u.stream_id AND s.last_revision = u.head
               AND u.new_head IS NOT NULL;
            GET DIAGNOSTICS v_updated = ROW_COUNT;
            IF v_updated <> cardinality(v_moved) THEN
              RAISE EXCEPTION 'events of % streams do not follow their heads',
                cardinality(v_moved) - v_updated
                USING ERRCODE = 'YB004';
            END IF;
          END IF;
        END IF;

        v_tx := pg_current_xact_id()::text::bigint;
        v_offset := 0;
        FOR j IN 1 .. v_streams LOOP
          IF v_new_heads[j] IS NOT NULL THEN
            v_offset := v_offset + p_counts[j];
            v_result[3 * j - 2] := v_new_heads[j];
            v_result[3 * j - 1] := v_tx;
            v_result[3 * j] := v_seqs[v_offset];
          END IF;
        END LOOP;
        RETURN v_result;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER FUNCTION ${APPEND_EVENT} RESET enable_seqscan`);
    await queryRunner.query(`ALTER FUNCTION ${APPEND_TO_STREAM} RESET enable_seqscan`);
    // Back to the MultiStreamAppend body, with its grants.
    await queryRunner.query(`DROP FUNCTION ${APPEND_TO_STREAMS}`);
    await new MultiStreamAppend1764000000007().up(queryRunner);
  }
}
