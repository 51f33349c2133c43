import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The `Idempotency-Key` of writes (issue 4): per organisation, the first answer to a key, so that
 * a retry gets that answer again instead of running the command twice. A tenant table like the
 * identity ones: `org_id` leads the key, row-level security is forced, the one policy admits the
 * transaction's organisation only.
 *
 * A key is `in_flight` while its first request runs (a retry then answers 409) and `done` with
 * the answer once it has one. `claim` names the attempt holding the key: an in-flight key left by
 * a process that died is taken over after a minute, and the attempt it was taken from can then
 * neither complete nor release it. The body is `json`, not `jsonb`, so that a replay is the same
 * bytes (jsonb would reorder the keys).
 */
export class Idempotency1764000000006 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);
    await q(`
      CREATE TABLE idempotency_keys (
        org_id       uuid NOT NULL,
        key          text NOT NULL CHECK (key ~ '^[\\x21-\\x7e]{1,255}$'),
        fingerprint  bytea NOT NULL CHECK (length(fingerprint) = 32),
        claim        uuid NOT NULL,
        state        text NOT NULL CHECK (state IN ('in_flight', 'done')),
        status       smallint CHECK (status BETWEEN 100 AND 599),
        headers      jsonb,
        body         json,
        created_at   timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        PRIMARY KEY (org_id, key),
        CHECK ((state = 'done') = (status IS NOT NULL AND completed_at IS NOT NULL))
      )`);
    // The purge deletes one organisation's expired keys.
    await q(`CREATE INDEX idempotency_keys_created ON idempotency_keys (org_id, created_at)`);
    await q(`GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO beecastle_app`);
    await q(`ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY`);
    await q(`ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY`);
    await q(`
      CREATE POLICY idempotency_keys_organisation ON idempotency_keys
      USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id())`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE idempotency_keys`);
  }
}
