import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The `company` filter of the contact list as an index condition under forced row-level security.
 * It compared `lower(company)` with the asked-for name, which the index `contacts_company` on
 * `(org_id, lower(company))` matches, but a qualifier that passes a column to a function not
 * marked LEAKPROOF (`lower`) may not run before the row-level policy: the index was used for the
 * organisation only, and every one of its contacts was read and filtered. `company_key` is the
 * lower-cased company, stored (a generated column: the projection and the rows it already wrote
 * need no change), and the list compares it with `=` (texteq is LEAKPROOF) to `lower($n)`, which
 * passes no column; the index on `(org_id, company_key)` then answers the filter itself.
 * Adding the column rewrites `contacts` once (seconds at a million rows).
 */
export class IndexedCompanyFilter1764000000017 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE contacts ADD COLUMN company_key text GENERATED ALWAYS AS (lower(company)) STORED`,
    );
    await queryRunner.query(`CREATE INDEX contacts_company_key ON contacts (org_id, company_key)`);
    await queryRunner.query(`DROP INDEX contacts_company`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX contacts_company ON contacts (org_id, lower(company))`);
    await queryRunner.query(`DROP INDEX contacts_company_key`);
    await queryRunner.query(`ALTER TABLE contacts DROP COLUMN company_key`);
  }
}
