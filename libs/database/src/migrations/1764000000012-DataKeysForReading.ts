import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `data_keys_for_reading`: the stored data keys of some subjects, in one round trip. A cold read
 * (a projector rebuilding, a process just started) looks keys up once per page of the log, and
 * each lookup went through withOrganisation: three round trips (scope, SELECT, COMMIT) in series
 * with the page reads.
 *
 * Every version of each named subject's key, destroyed ones included (a NULL wrapped key: the
 * caller reads those as erased). It runs as its caller (SECURITY INVOKER) under forced row-level
 * security, in the organisation it names, as data_keys_for_writing does: it scopes its own
 * statement, then puts the caller's scope back, and refuses to run inside another organisation's
 * scope. The application role gains nothing it could not already do with set_config and SELECT.
 *
 * One index lookup per subject whatever the table's size when the session's plan was cached (see
 * data_keys_for_writing): a LATERAL lookup per subject, kept one by OFFSET 0, sequential scans off.
 */
const FUNCTION = 'data_keys_for_reading(uuid, text[])';

export class DataKeysForReading1764000000012 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE FUNCTION data_keys_for_reading(p_org uuid, p_subject_ids text[])
      RETURNS TABLE (subject_id text, version integer, organisation_key_version integer,
                     wrapped_key bytea)
      LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp
      SET enable_seqscan = off AS $$
      #variable_conflict use_column
      DECLARE
        caller_org text := current_setting('app.org_id', true);
        caller_user text := current_setting('app.user_id', true);
      BEGIN
        IF coalesce(caller_org, '') NOT IN ('', p_org::text) THEN
          RAISE EXCEPTION 'data_keys_for_reading called inside another organisation''s scope'
            USING ERRCODE = '42501';
        END IF;
        PERFORM set_config('app.org_id', p_org::text, true), set_config('app.user_id', '', true);
        RETURN QUERY
          SELECT d.subject_id, d.version, d.organisation_key_version, d.wrapped_key
            FROM unnest(p_subject_ids) AS s(subject_id),
                 LATERAL (SELECT k.subject_id, k.version, k.organisation_key_version,
                                 k.wrapped_key
                            FROM data_keys k
                           WHERE k.org_id = p_org AND k.subject_id = s.subject_id
                          OFFSET 0) AS d;
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
