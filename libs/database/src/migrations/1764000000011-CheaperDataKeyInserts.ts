import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Cheaper rows in `data_keys` (KeyStore migration), with the same refusals. Seeding makes a data
 * key per imported contact, 500 to a call of data_keys_for_writing, and two per-row costs were
 * about half of that call's database time (same database, same rows, A/B in one session):
 *
 * - The trigger that keeps an erasure for good ran a PL/pgSQL function, with a query, for every
 *   row inserted or updated. It now runs only where it can refuse: an UPDATE of a destroyed row,
 *   and an INSERT of a version other than 1. A version 1 needs no check: a subject that has any
 *   row has a version 1 (a later version may be added only beside one, which the trigger now
 *   requires, and rows are never deleted), an erasure leaves that row as a tombstone (it destroys
 *   every version, or inserts version 1 destroyed), so a version 1 for an erased subject meets
 *   the primary key: refused (23505), or skipped by ON CONFLICT DO NOTHING, which waits for an
 *   erasure in flight exactly as before.
 * - The subject id's CHECK was a regular expression; the same rule (1 to 64 characters of
 *   A-Z, a-z, 0-9, `_`, `-`) is now a length and a `translate` that must leave nothing.
 */
const ALLOWED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

export class CheaperDataKeyInserts1764000000011 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE OR REPLACE FUNCTION data_keys_stay_destroyed() RETURNS trigger
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
        -- Version 1 is inserted unchecked because every subject with a key has one.
        IF TG_OP = 'INSERT' AND NEW.version <> 1 AND NOT EXISTS (
             SELECT 1 FROM data_keys d
              WHERE d.org_id = NEW.org_id AND d.subject_id = NEW.subject_id AND d.version = 1) THEN
          RAISE EXCEPTION 'data key % of % needs a version 1 first', NEW.version, NEW.subject_id
            USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
      END $$`);
    await q(`DROP TRIGGER data_keys_stay_destroyed ON data_keys`);
    await q(`
      CREATE TRIGGER data_keys_stay_destroyed BEFORE UPDATE ON data_keys
        FOR EACH ROW WHEN (OLD.destroyed_at IS NOT NULL)
        EXECUTE FUNCTION data_keys_stay_destroyed()`);
    await q(`
      CREATE TRIGGER data_keys_later_versions BEFORE INSERT ON data_keys
        FOR EACH ROW WHEN (NEW.version <> 1)
        EXECUTE FUNCTION data_keys_stay_destroyed()`);

    await q(`
      ALTER TABLE data_keys
        DROP CONSTRAINT data_keys_subject_id_check,
        ADD CONSTRAINT data_keys_subject_id_check
          CHECK (length(subject_id) BETWEEN 1 AND 64 AND translate(subject_id, '${ALLOWED}', '') = '')`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);
    await q(`
      ALTER TABLE data_keys
        DROP CONSTRAINT data_keys_subject_id_check,
        ADD CONSTRAINT data_keys_subject_id_check CHECK (subject_id ~ '^[A-Za-z0-9_-]{1,64}$')`);
    await q(`DROP TRIGGER data_keys_later_versions ON data_keys`);
    await q(`DROP TRIGGER data_keys_stay_destroyed ON data_keys`);
    await q(`
      CREATE TRIGGER data_keys_stay_destroyed BEFORE INSERT OR UPDATE ON data_keys
        FOR EACH ROW EXECUTE FUNCTION data_keys_stay_destroyed()`);
  }
}
