import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Identity and access (issue 3), and the organisation isolation every later tenant table copies.
 *
 * Tenant tables lead with `org_id`, have row-level security *forced* (so even their owner is
 * subject to it) and a policy that admits only rows of the organisation named by the transaction's
 * `app.org_id`; with none set, nothing is visible and nothing can be written. The application role
 * owns none of them and gets only the privileges each one needs.
 *
 * Global tables (no organisation column) hold what must be found before an organisation is known:
 * a user's credentials by email, the platform's JWT signing keys, and requests that never got as
 * far as an organisation.
 */
export class Identity1764000000003 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    // The transaction's organisation and user; NULL when unset (an unset custom setting reads as
    // '' once it has been set and reset in the session, so both count as unset).
    await q(`
      CREATE FUNCTION app_org_id() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE AS
      $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$`);
    await q(`
      CREATE FUNCTION app_user_id() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE AS
      $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$`);

    // ---- global -----------------------------------------------------------------------------

    // Credentials only; who a user is in an organisation (name, role, status) is in the log.
    await q(`
      CREATE TABLE users (
        id                  uuid PRIMARY KEY,
        email               text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
        password_hash       text NOT NULL,
        created_at          timestamptz NOT NULL DEFAULT now(),
        password_changed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q(`GRANT SELECT, INSERT ON users TO beecastle_app`);
    await q(`GRANT UPDATE (password_hash, password_changed_at) ON users TO beecastle_app`);

    // The platform's token signing keys. A key is used for signing from activated_at until the
    // next one activates (retired_at); it is published in the JWKS until tokens signed by it
    // have all expired.
    await q(`
      CREATE TABLE signing_keys (
        key_id       uuid PRIMARY KEY,
        algorithm    text NOT NULL CHECK (algorithm = 'ES256'),
        private_key  text NOT NULL,
        public_jwk   jsonb NOT NULL,
        activated_at timestamptz NOT NULL DEFAULT now(),
        retired_at   timestamptz
      )`);
    await q(`GRANT SELECT, INSERT ON signing_keys TO beecastle_app`);
    await q(`GRANT UPDATE (retired_at) ON signing_keys TO beecastle_app`);

    // Requests answered before any organisation was established (401s, health checks, 404s of
    // unknown paths). Operators read it; the application only appends.
    await q(`
      CREATE TABLE request_log_unattributed (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at          timestamptz NOT NULL,
        request_id  text NOT NULL,
        client_ip   inet,
        method      text NOT NULL,
        route       text,
        status      smallint NOT NULL,
        latency_ms  real NOT NULL
      )`);
    await q(`CREATE INDEX request_log_unattributed_at ON request_log_unattributed (at)`);
    await q(`GRANT INSERT ON request_log_unattributed TO beecastle_app`);

    // ---- tenant -----------------------------------------------------------------------------

    // Read models of the organisation streams (projection "access"); `revision` is the stream
    // revision last applied, so a redelivered event changes nothing.
    await q(`
      CREATE TABLE organisations (
        org_id     uuid PRIMARY KEY,
        name       text NOT NULL,
        revision   bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q(`
      CREATE TABLE memberships (
        org_id     uuid NOT NULL,
        user_id    uuid NOT NULL,
        email      text NOT NULL,
        name       text NOT NULL,
        role       text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'auditor')),
        status     text NOT NULL CHECK (status IN ('active', 'deactivated')),
        revision   bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (org_id, user_id)
      )`);
    await q(`CREATE INDEX memberships_user ON memberships (user_id)`);
    await q(`
      CREATE TABLE api_keys (
        org_id      uuid NOT NULL,
        key_id      uuid NOT NULL,
        name        text NOT NULL,
        role        text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'auditor')),
        secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
        created_by  uuid NOT NULL,
        created_at  timestamptz NOT NULL,
        expires_at  timestamptz,
        revoked_at  timestamptz,
        revision    bigint NOT NULL,
        PRIMARY KEY (org_id, key_id)
      )`);
    for (const table of ['organisations', 'memberships', 'api_keys']) {
      await q(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO beecastle_app`);
    }

    // Written by the API as keys are used: not a change to the organisation, so not in the log,
    // and apart from api_keys so that a rebuild of the read model keeps it.
    await q(`
      CREATE TABLE api_key_usage (
        org_id       uuid NOT NULL,
        key_id       uuid NOT NULL,
        last_used_at timestamptz NOT NULL,
        PRIMARY KEY (org_id, key_id)
      )`);
    await q(`GRANT SELECT, INSERT, UPDATE ON api_key_usage TO beecastle_app`);

    // A session is one sign-in: its refresh tokens form one family, rotated on every use.
    await q(`
      CREATE TABLE sessions (
        org_id         uuid NOT NULL,
        session_id     uuid NOT NULL,
        user_id        uuid NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        expires_at     timestamptz NOT NULL,
        revoked_at     timestamptz,
        revoked_reason text CHECK (revoked_reason IN ('logout', 'refresh_token_reuse', 'user_deactivated')),
        PRIMARY KEY (org_id, session_id)
      )`);
    await q(`GRANT SELECT, INSERT ON sessions TO beecastle_app`);
    await q(`GRANT UPDATE (revoked_at, revoked_reason) ON sessions TO beecastle_app`);
    await q(`
      CREATE TABLE refresh_tokens (
        org_id     uuid NOT NULL,
        token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
        session_id uuid NOT NULL,
        issued_at  timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        spent_at   timestamptz,
        PRIMARY KEY (org_id, token_hash),
        FOREIGN KEY (org_id, session_id) REFERENCES sessions (org_id, session_id)
      )`);
    await q(`GRANT SELECT, INSERT ON refresh_tokens TO beecastle_app`);
    await q(`GRANT UPDATE (spent_at) ON refresh_tokens TO beecastle_app`);

    // One record per request that reached an organisation; append-only for the application.
    await q(`
      CREATE TABLE request_log (
        org_id      uuid NOT NULL,
        id          bigint GENERATED ALWAYS AS IDENTITY,
        at          timestamptz NOT NULL,
        request_id  text NOT NULL,
        client_ip   inet,
        method      text NOT NULL,
        route       text,
        status      smallint NOT NULL,
        latency_ms  real NOT NULL,
        user_id     uuid,
        api_key_id  uuid,
        PRIMARY KEY (org_id, id)
      )`);
    await q(`CREATE INDEX request_log_org_at ON request_log (org_id, at, id)`);
    await q(`GRANT SELECT, INSERT ON request_log TO beecastle_app`);

    const tenantTables = [
      'organisations',
      'memberships',
      'api_keys',
      'api_key_usage',
      'sessions',
      'refresh_tokens',
      'request_log',
    ];
    for (const table of tenantTables) {
      await q(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      await q(`
        CREATE POLICY ${table}_organisation ON ${table}
        USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id())`);
    }
    // Signing in comes before choosing an organisation: once the password has been checked, the
    // user (and only that user) may list their own memberships across organisations.
    await q(`
      CREATE POLICY memberships_own ON memberships FOR SELECT
      USING (user_id = app_user_id())`);
    await q(`
      CREATE POLICY organisations_member ON organisations FOR SELECT
      USING (EXISTS (SELECT 1 FROM memberships m
                     WHERE m.org_id = organisations.org_id AND m.user_id = app_user_id()))`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'request_log',
      'refresh_tokens',
      'sessions',
      'api_key_usage',
      'api_keys',
      'memberships',
      'organisations',
      'request_log_unattributed',
      'signing_keys',
      'users',
    ]) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
    await queryRunner.query(`DROP FUNCTION app_user_id()`);
    await queryRunner.query(`DROP FUNCTION app_org_id()`);
  }
}
