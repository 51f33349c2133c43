import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `append_to_streams_with_keys` and `append_event_with_key`: an append, and the first data keys of the subjects its events are
 * encrypted for, in one round trip and one transaction. A create's new contact needs a key; storing
 * it with data_keys_for_writing cost a statement of its own before the append (about 40 % of an
 * encrypted create, most of it the round trip), and group commit could not batch it.
 *
 * It is append_to_streams (MultiStreamAppend, LeanerAppends), called first so that the append is
 * still the transaction's first write, then each key inserted as version 1 in its organisation's
 * scope. `append_event_with_key` is the same for a create (one event, one key), with scalar
 * arguments around append_event (EventLog), as the adapter sends a lone event: its key costs the
 * database about 80 µs, against 150 µs through the arrays. A key that meets a row (another key for the subject, or an erasure's tombstone) fails the
 * whole call with YB005, naming the subject in DETAIL, and nothing is written: the caller then reads
 * the stored key and appends again. A row that is this very key (same wrapped bytes) is an exact
 * retry of this call, and passes, as the retried events do.
 *
 * It runs as its caller (SECURITY INVOKER): the keys go in under forced row-level security, as
 * data_keys_for_writing puts them, scoped per organisation by the function itself, which refuses to
 * run inside an organisation's scope and leaves none behind. Every key must belong to an
 * organisation of one of the streams. The application role gains nothing it could not already do
 * with append_to_streams, set_config and INSERT. Plans as the other append and key functions:
 * generic, no sequential scans.
 */
const FUNCTIONS = [
  'append_to_streams_with_keys(text[], uuid[], text[], bigint[], integer[], uuid[], text[], smallint[], bytea[], bytea[], text[], text[], uuid[], text[], integer[], bytea[])',
  'append_event_with_key(text, uuid, text, bigint, uuid, text, smallint, bytea, bytea, text, text, text, integer, bytea)',
];

/**
 * What both functions open with after their arguments: their settings, the caller's scope (put
 * back at the end), and the refusal to run inside an organisation's scope.
 */
const opening = (name: string, declarations: string): string => `RETURNS bigint[]
      LANGUAGE plpgsql VOLATILE SECURITY INVOKER
      SET search_path = public, pg_temp
      SET enable_seqscan = off
      SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        caller_org  text := current_setting('app.org_id', true);
        caller_user text := current_setting('app.user_id', true);
        ${declarations}
      BEGIN
        IF coalesce(caller_org, '') <> '' THEN
          RAISE EXCEPTION '${name} called inside an organisation''s scope'
            USING ERRCODE = '42501';
        END IF;`;

export class DataKeysWithAppends1764000000014 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE FUNCTION append_to_streams_with_keys(
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
        p_request_ids        text[],
        p_key_orgs           uuid[],
        p_key_subjects       text[],
        p_key_wrapping       integer[],
        p_key_wrapped        bytea[]
      ) ${opening(
        'append_to_streams_with_keys',
        `v_keys      int := coalesce(cardinality(p_key_subjects), 0);
        v_result    bigint[];
        v_org       uuid;
        v_done      uuid[] := '{}';
        v_added     int := 0;
        v_n         int;
        v_taken     text;`,
      )}
        IF v_keys = 0
           OR cardinality(p_key_orgs) IS DISTINCT FROM v_keys
           OR cardinality(p_key_wrapping) IS DISTINCT FROM v_keys
           OR cardinality(p_key_wrapped) IS DISTINCT FROM v_keys THEN
          RAISE EXCEPTION 'append_to_streams_with_keys: malformed keys' USING ERRCODE = '22023';
        END IF;
        IF NOT (p_key_orgs <@ p_org_ids) THEN
          RAISE EXCEPTION 'a data key names an organisation that none of the streams belongs to'
            USING ERRCODE = 'YB003';
        END IF;

        -- The events first: the append must be its transaction's first write (the log's order).
        v_result := append_to_streams(p_stream_ids, p_org_ids, p_expected, p_expected_revisions,
                                      p_counts, p_event_ids, p_types, p_schema_versions, p_data,
                                      p_metadata, p_actor_ids, p_request_ids);

        -- Each organisation's keys in its own scope (row-level security checks every row).
        FOREACH v_org IN ARRAY p_key_orgs LOOP
          CONTINUE WHEN v_org = ANY (v_done);
          v_done := v_done || v_org;
          PERFORM set_config('app.org_id', v_org::text, true), set_config('app.user_id', '', true);
          INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
          SELECT k.org_id, k.subject_id, 1, k.wrapping, k.wrapped_key
            FROM unnest(p_key_orgs, p_key_subjects, p_key_wrapping, p_key_wrapped)
                 AS k(org_id, subject_id, wrapping, wrapped_key)
           WHERE k.org_id = v_org
          ON CONFLICT DO NOTHING;
          GET DIAGNOSTICS v_n = ROW_COUNT;
          v_added := v_added + v_n;
        END LOOP;

        -- Some met a row: each must be this very key (an exact retry), or nothing is written.
        IF v_added < v_keys THEN
          FOREACH v_org IN ARRAY v_done LOOP
            PERFORM set_config('app.org_id', v_org::text, true);
            SELECT k.subject_id INTO v_taken
              FROM unnest(p_key_orgs, p_key_subjects, p_key_wrapped)
                   AS k(org_id, subject_id, wrapped_key)
             WHERE k.org_id = v_org
               AND NOT EXISTS (SELECT 1 FROM data_keys s
                                WHERE s.org_id = v_org AND s.subject_id = k.subject_id
                                  AND s.version = 1 AND s.wrapped_key = k.wrapped_key)
             LIMIT 1;
            IF v_taken IS NOT NULL THEN
              RAISE EXCEPTION 'subject % already has a data key', v_taken
                USING ERRCODE = 'YB005',
                      DETAIL = json_build_object('organisationId', v_org,
                                                 'subjectId', v_taken)::text;
            END IF;
          END LOOP;
        END IF;
        PERFORM set_config('app.org_id', coalesce(caller_org, ''), true),
                set_config('app.user_id', coalesce(caller_user, ''), true);
        RETURN v_result;
      END $$`);

    await q(`
      CREATE FUNCTION append_event_with_key(
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
        p_request_id        text,
        p_key_subject       text,
        p_key_wrapping      integer,
        p_key_wrapped       bytea
      ) ${opening(
        'append_event_with_key',
        `v_result    bigint[];
        v_added     int;`,
      )}
        v_result := append_event(p_stream_id, p_org_id, p_expected, p_expected_revision,
                                 p_event_id, p_type, p_schema_version, p_data, p_metadata,
                                 p_actor_id, p_request_id);
        PERFORM set_config('app.org_id', p_org_id::text, true), set_config('app.user_id', '', true);
        INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
        VALUES (p_org_id, p_key_subject, 1, p_key_wrapping, p_key_wrapped)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_added = ROW_COUNT;
        IF v_added = 0 AND NOT EXISTS (
             SELECT 1 FROM data_keys s
              WHERE s.org_id = p_org_id AND s.subject_id = p_key_subject AND s.version = 1
                AND s.wrapped_key = p_key_wrapped) THEN
          RAISE EXCEPTION 'subject % already has a data key', p_key_subject
            USING ERRCODE = 'YB005',
                  DETAIL = json_build_object('organisationId', p_org_id,
                                             'subjectId', p_key_subject)::text;
        END IF;
        PERFORM set_config('app.org_id', coalesce(caller_org, ''), true),
                set_config('app.user_id', coalesce(caller_user, ''), true);
        RETURN v_result;
      END $$`);
    for (const fn of FUNCTIONS) {
      await q(`REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC`);
      await q(`GRANT EXECUTE ON FUNCTION ${fn} TO beecastle_app`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const fn of FUNCTIONS) await queryRunner.query(`DROP FUNCTION ${fn}`);
  }
}
