import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Token signing keys' private halves sealed at rest (libs/auth signing-key-seal.ts): until now
 * `signing_keys.private_key` held the PEM in the clear, so a database dump or backup was enough to
 * mint tokens. New keys are stored only as `sealed_private_key` with the id of the data key that
 * seals it; a key still in the clear is sealed by the first API to start after this migration
 * (the migration cannot: the master key never reaches the database); a retired key keeps neither
 * (it only verifies, with its public half). The application role may now clear and seal these
 * columns, nothing else of the row but `retired_at`.
 */
export class SealedSigningKeys1764000000015 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);
    await q(`
      ALTER TABLE signing_keys
        ALTER COLUMN private_key DROP NOT NULL,
        ADD COLUMN sealed_private_key bytea,
        ADD COLUMN private_key_data_key text,
        ADD CONSTRAINT signing_keys_private_half_once
          CHECK (private_key IS NULL OR sealed_private_key IS NULL),
        ADD CONSTRAINT signing_keys_sealed_with_key
          CHECK ((sealed_private_key IS NULL) = (private_key_data_key IS NULL))`);
    await q(
      `GRANT UPDATE (private_key, sealed_private_key, private_key_data_key) ON signing_keys TO beecastle_app`,
    );
    // Retired keys' private halves were never read again: drop them now.
    await q(`UPDATE signing_keys SET private_key = NULL WHERE retired_at IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);
    await q(
      `REVOKE UPDATE (private_key, sealed_private_key, private_key_data_key) ON signing_keys FROM beecastle_app`,
    );
    await q(`
      ALTER TABLE signing_keys
        DROP CONSTRAINT signing_keys_sealed_with_key,
        DROP CONSTRAINT signing_keys_private_half_once,
        DROP COLUMN private_key_data_key,
        DROP COLUMN sealed_private_key`);
  }
}
