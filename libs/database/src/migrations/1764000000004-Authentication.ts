import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What authentication needs beyond the identity tables:
 * - at most one active signing key, so that API instances starting together create one between them;
 * - the login throttle's counters (rate-limiter-flexible's PostgreSQL store), shared by every
 *   instance, keyed by hashes of the email and the client IP;
 * - one function per credential type that checks a request's principal in one round trip.
 */
export class Authentication1764000000004 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(
      `CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL`,
    );

    // The library's own layout (it is told the table exists and never creates it). No organisation
    // column: a sign-in is throttled before any organisation is known.
    await q(`
      CREATE TABLE login_throttle (
        key    varchar(255) PRIMARY KEY,
        points integer NOT NULL DEFAULT 0,
        expire bigint
      )`);
    await q(`GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO beecastle_app`);

    // The per-request checks. Each runs as its caller (SECURITY INVOKER), so row-level security
    // applies exactly as in withOrganisation: the function scopes its own statement to the
    // organisation named by the verified credential, then puts the caller's scope back. Called
    // outside a transaction, the setting dies with the statement's implicit transaction.
    //
    // An access token: the member is active (with their live role), the session neither revoked
    // nor past its absolute expiry. No row: refuse.
    await q(`
      CREATE FUNCTION auth_session_principal(p_org uuid, p_user uuid, p_session uuid)
      RETURNS TABLE (role text, email text, name text, organisation_name text)
      LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
      #variable_conflict use_column
      DECLARE
        caller_org text := current_setting('app.org_id', true);
        caller_user text := current_setting('app.user_id', true);
      BEGIN
        IF coalesce(caller_org, '') NOT IN ('', p_org::text) THEN
          RAISE EXCEPTION 'auth_session_principal called inside another organisation''s scope'
            USING ERRCODE = '42501';
        END IF;
        PERFORM set_config('app.org_id', p_org::text, true), set_config('app.user_id', '', true);
        RETURN QUERY
          SELECT m.role, m.email, m.name, o.name
            FROM memberships m
            JOIN sessions s ON s.org_id = m.org_id AND s.user_id = m.user_id
            JOIN organisations o ON o.org_id = m.org_id
           WHERE m.org_id = p_org AND m.user_id = p_user AND m.status = 'active'
             AND s.session_id = p_session AND s.revoked_at IS NULL AND s.expires_at > now();
        PERFORM set_config('app.org_id', coalesce(caller_org, ''), true),
                set_config('app.user_id', coalesce(caller_user, ''), true);
      END $$`);

    // An API key: its row whatever its state (the caller compares the secret in constant time and
    // explains nothing), its creator's live membership, and when it was last recorded as used.
    await q(`
      CREATE FUNCTION auth_api_key_principal(p_org uuid, p_key uuid)
      RETURNS TABLE (secret_hash bytea, key_name text, key_role text, expires_at timestamptz,
                     revoked_at timestamptz, created_by uuid, creator_role text,
                     creator_status text, creator_email text, creator_name text,
                     organisation_name text, last_used_at timestamptz, expired boolean)
      LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
      #variable_conflict use_column
      DECLARE
        caller_org text := current_setting('app.org_id', true);
        caller_user text := current_setting('app.user_id', true);
      BEGIN
        IF coalesce(caller_org, '') NOT IN ('', p_org::text) THEN
          RAISE EXCEPTION 'auth_api_key_principal called inside another organisation''s scope'
            USING ERRCODE = '42501';
        END IF;
        PERFORM set_config('app.org_id', p_org::text, true), set_config('app.user_id', '', true);
        RETURN QUERY
          SELECT k.secret_hash, k.name, k.role, k.expires_at, k.revoked_at, k.created_by,
                 m.role, m.status, m.email, m.name, o.name, u.last_used_at,
                 k.expires_at IS NOT NULL AND k.expires_at <= now()
            FROM api_keys k
            JOIN organisations o ON o.org_id = k.org_id
            LEFT JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.created_by
            LEFT JOIN api_key_usage u ON u.org_id = k.org_id AND u.key_id = k.key_id
           WHERE k.org_id = p_org AND k.key_id = p_key;
        PERFORM set_config('app.org_id', coalesce(caller_org, ''), true),
                set_config('app.user_id', coalesce(caller_user, ''), true);
      END $$`);
    for (const fn of [
      'auth_session_principal(uuid, uuid, uuid)',
      'auth_api_key_principal(uuid, uuid)',
    ]) {
      await q(`REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC`);
      await q(`GRANT EXECUTE ON FUNCTION ${fn} TO beecastle_app`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION auth_api_key_principal(uuid, uuid)`);
    await queryRunner.query(`DROP FUNCTION auth_session_principal(uuid, uuid, uuid)`);
    await queryRunner.query(`DROP TABLE login_throttle`);
    await queryRunner.query(`DROP INDEX signing_keys_one_active`);
  }
}
