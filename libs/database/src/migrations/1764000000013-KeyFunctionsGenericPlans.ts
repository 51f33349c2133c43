import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `data_keys_for_writing` and `data_keys_for_reading` (migrations DataKeysForWriting and
 * DataKeysForReading) keep one plan per statement, as append_to_streams has since LeanerAppends.
 *
 * Under the default plan_cache_mode, PL/pgSQL weighs its generic plan against the custom plans of
 * the first five calls, and the generic plan's estimate for `unnest(p_subject_ids)` (ten rows)
 * always loses to a custom plan that knows the array holds one subject: so each call planned its
 * statement afresh, in every transaction (each call is one). For one subject, as a create asks,
 * planning was most of the call: data_keys_for_writing took about 400 µs of database time beyond
 * the round trip and data_keys_for_reading about 150 µs; with generic plans, about 100 µs and
 * 45 µs (same database, same session, A/B). The generic plans are the ones the LATERAL lookups
 * were written for: one index lookup per subject, whatever the table's size (the function's own
 * enable_seqscan = off still holds).
 */
const FUNCTIONS = [
  'data_keys_for_writing(uuid, text[], integer, bytea[], boolean)',
  'data_keys_for_reading(uuid, text[])',
];

export class KeyFunctionsGenericPlans1764000000013 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    for (const fn of FUNCTIONS) {
      await queryRunner.query(`ALTER FUNCTION ${fn} SET plan_cache_mode = force_generic_plan`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const fn of FUNCTIONS) {
      await queryRunner.query(`ALTER FUNCTION ${fn} RESET plan_cache_mode`);
    }
  }
}
