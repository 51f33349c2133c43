import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The key store of envelope encryption (issue 5, ARCHITECTURE.md §4). Keys live here, never in the
 * log, and only wrapped: a data key per subject (a contact, or the organisation itself) encrypts
 * event payloads; it is stored encrypted by its organisation's key; organisation keys are stored
 * encrypted by the master key, which is never in the database at all.
 *
 * - `master_keys` (global): every master key that has sealed this store, by its public id, with a
 *   check value it sealed (opening it proves a key is that one). `completed_at`: every
 *   organisation key has a wrap by it; `retired_at`: rotated away from, its wraps are being or have
 *   been removed. Start-up refuses a master key that is not the completed, unretired one.
 * - `organisation_keys` (tenant): each version of an organisation's key, once per master key that
 *   wraps it (two during a master key rotation). Versions are kept so that data keys wrapped by an
 *   old version still open.
 * - `data_keys` (tenant): each version of a subject's data key, wrapped by one organisation key
 *   version. Erasure nulls the wrapped bytes and stamps `destroyed_at`; the row stays as a
 *   tombstone so that the subject can never be given a key again, and a trigger keeps it so.
 *
 * The application role may read and add keys, re-wrap data keys (organisation key rotation),
 * destroy them, and remove a retired master key's wraps; it may not delete a data key row or
 * change a destroyed one.
 */
export class KeyStore1764000000008 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE TABLE master_keys (
        master_key_id text PRIMARY KEY CHECK (master_key_id ~ '^[\\x21-\\x7e]{1,200}$'),
        check_value   bytea NOT NULL CHECK (length(check_value) BETWEEN 1 AND 1024),
        created_at    timestamptz NOT NULL DEFAULT now(),
        completed_at  timestamptz,
        retired_at    timestamptz
      )`);
    await q(`GRANT SELECT, INSERT ON master_keys TO beecastle_app`);
    await q(`GRANT UPDATE (completed_at, retired_at) ON master_keys TO beecastle_app`);

    await q(`
      CREATE TABLE organisation_keys (
        org_id        uuid NOT NULL,
        version       integer NOT NULL CHECK (version >= 1),
        master_key_id text NOT NULL REFERENCES master_keys (master_key_id),
        wrapped_key   bytea NOT NULL CHECK (length(wrapped_key) BETWEEN 1 AND 1024),
        created_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (org_id, version, master_key_id)
      )`);
    await q(`GRANT SELECT, INSERT, DELETE ON organisation_keys TO beecastle_app`);

    await q(`
      CREATE TABLE data_keys (
        org_id                   uuid NOT NULL,
        subject_id               text NOT NULL CHECK (subject_id ~ '^[A-Za-z0-9_-]{1,64}$'),
        version                  integer NOT NULL CHECK (version >= 1),
        organisation_key_version integer,
        wrapped_key              bytea CHECK (length(wrapped_key) BETWEEN 1 AND 1024),
        created_at               timestamptz NOT NULL DEFAULT now(),
        destroyed_at             timestamptz,
        PRIMARY KEY (org_id, subject_id, version),
        CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL)),
        CHECK ((wrapped_key IS NULL) = (organisation_key_version IS NULL))
      )`);
    // Organisation key rotation re-wraps by the version it replaces.
    await q(`CREATE INDEX data_keys_wrapping ON data_keys (org_id, organisation_key_version)`);
    await q(`GRANT SELECT, INSERT ON data_keys TO beecastle_app`);
    await q(
      `GRANT UPDATE (organisation_key_version, wrapped_key, destroyed_at) ON data_keys TO beecastle_app`,
    );

    // Erasure is for good: a destroyed key is never changed again, and its subject never gets
    // another (a new version would make its later events readable, and look like a restore).
    await q(`
      CREATE FUNCTION data_keys_stay_destroyed() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND OLD.destroyed_at IS NOT NULL THEN
          RAISE EXCEPTION 'data key % of % was destroyed and stays so', OLD.version, OLD.subject_id
            USING ERRCODE = '55000';
        END IF;
        IF TG_OP = 'INSERT' AND EXISTS (
             SELECT 1 FROM data_keys d
              WHERE d.org_id = NEW.org_id AND d.subject_id = NEW.subject_id
                AND d.destroyed_at IS NOT NULL) THEN
          RAISE EXCEPTION 'the data of % was erased: it gets no new key', NEW.subject_id
            USING ERRCODE = '55000';
        END IF;
        RETURN NEW;
      END $$`);
    await q(`
      CREATE TRIGGER data_keys_stay_destroyed BEFORE INSERT OR UPDATE ON data_keys
        FOR EACH ROW EXECUTE FUNCTION data_keys_stay_destroyed()`);

    for (const table of ['organisation_keys', 'data_keys']) {
      await q(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      await q(`
        CREATE POLICY ${table}_organisation ON ${table}
        USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id())`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE data_keys`);
    await queryRunner.query(`DROP FUNCTION data_keys_stay_destroyed()`);
    await queryRunner.query(`DROP TABLE organisation_keys`);
    await queryRunner.query(`DROP TABLE master_keys`);
  }
}
