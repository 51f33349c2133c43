import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `data_keys_for_writing`: the data keys an append needs, in one round trip (KeyStore migration).
 * Before it, a key for a new subject cost a SELECT in one organisation-scoped transaction and an
 * INSERT in another (three round trips each, two commits), ahead of the append itself.
 *
 * Given an organisation, subjects and a fresh wrapped key for each, it answers every version of
 * the keys of the subjects that have any (destroyed ones included, so the caller refuses an erased
 * subject), and adds version 1 for the others, answering those as `added` without their bytes (the
 * caller has them). A subject that another session gave a key between the two (the INSERT met its
 * row) is in neither list: the caller reads it again. Every subject thus keeps one key per version,
 * and a tombstone still refuses a new key (trigger data_keys_stay_destroyed; a tombstone committed
 * mid-statement fails the call with 55000, and the caller reads again).
 *
 * It runs as its caller (SECURITY INVOKER) under forced row-level security, in the organisation
 * it names, as auth_session_principal does: it scopes its own statement, then puts the caller's
 * scope back. The application role gains nothing it could not already do with set_config and
 * INSERT. Called alone (its own implicit transaction), `p_synchronous = false` commits it with
 * `synchronous_commit = off`: only for an event log in the same PostgreSQL, whose next synchronous
 * commit flushes the WAL past it (see PostgresKeyStore).
 *
 * Its plan must stay one index lookup per subject as the table grows: PL/pgSQL keeps a generic
 * plan per session, and one made while `data_keys` was small (a fresh database being seeded) read
 * every key of the organisation on each call: with `subject_id = ANY (...)` a 500-key call went
 * from 45 ms to 670 ms as one session added 40,000 keys, and a plain join planned as a hash join
 * over them too. A LATERAL lookup per subject (OFFSET 0 keeps it one) with sequential scans off
 * stays flat (about 30 ms a call over the same rows).
 */
const FUNCTION = 'data_keys_for_writing(uuid, text[], integer, bytea[], boolean)';

export class DataKeysForWriting1764000000009 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE FUNCTION data_keys_for_writing(
        p_org                      uuid,
        p_subject_ids              text[],
        p_organisation_key_version integer,
        p_wrapped_keys             bytea[],
        p_synchronous              boolean)
      RETURNS TABLE (subject_id text, version integer, organisation_key_version integer,
                     wrapped_key bytea, added boolean)
      LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp
      SET enable_seqscan = off AS $$
      #variable_conflict use_column
      DECLARE
        caller_org text := current_setting('app.org_id', true);
        caller_user text := current_setting('app.user_id', true);
      BEGIN
        IF coalesce(caller_org, '') NOT IN ('', p_org::text) THEN
          RAISE EXCEPTION 'data_keys_for_writing called inside another organisation''s scope'
            USING ERRCODE = '42501';
        END IF;
        IF cardinality(p_subject_ids) IS DISTINCT FROM cardinality(p_wrapped_keys) THEN
          RAISE EXCEPTION 'one wrapped key per subject' USING ERRCODE = '22023';
        END IF;
        PERFORM set_config('app.org_id', p_org::text, true), set_config('app.user_id', '', true);
        IF NOT p_synchronous THEN
          PERFORM set_config('synchronous_commit', 'off', true);
        END IF;
        RETURN QUERY
          WITH existing AS MATERIALIZED (
            SELECT d.subject_id, d.version, d.organisation_key_version, d.wrapped_key
              FROM unnest(p_subject_ids) AS s(subject_id),
                   LATERAL (SELECT k.subject_id, k.version, k.organisation_key_version,
                                   k.wrapped_key
                              FROM data_keys k
                             WHERE k.org_id = p_org AND k.subject_id = s.subject_id
                            OFFSET 0) AS d),
          fresh AS (
            INSERT INTO data_keys AS d
                   (org_id, subject_id, version, organisation_key_version, wrapped_key)
            SELECT p_org, k.subject_id, 1, p_organisation_key_version, k.wrapped_key
              FROM unnest(p_subject_ids, p_wrapped_keys) AS k(subject_id, wrapped_key)
             WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.subject_id = k.subject_id)
            ON CONFLICT DO NOTHING
            RETURNING d.subject_id)
          SELECT e.subject_id, e.version, e.organisation_key_version, e.wrapped_key, false
            FROM existing e
          UNION ALL
          SELECT f.subject_id, 1, p_organisation_key_version, NULL::bytea, true FROM fresh f;
        PERFORM set_config('app.org_id', coalesce(caller_org, ''), true),
                set_config('app.user_id', coalesce(caller_user, ''), true);
      END $$`);
    await q(`REVOKE ALL ON FUNCTION ${FUNCTION} FROM PUBLIC`);
    await q(`GRANT EXECUTE ON FUNCTION ${FUNCTION} TO beecastle_app`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION ${FUNCTION}`);
  }
}
