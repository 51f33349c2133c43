import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where each projection has got to in the log. Not tenant data (no organisation column): one row a
 * projection, moved by compare-and-set in the same transaction as the rows it covers.
 */
export class ProjectionCheckpoints1764000000002 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE projection_checkpoints (
        projection        text PRIMARY KEY CHECK (projection ~ '^[a-z][a-z0-9_.-]{0,62}$'),
        position_commit   bigint NOT NULL CHECK (position_commit >= 0),
        position_prepare  bigint NOT NULL CHECK (position_prepare >= 0),
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `GRANT SELECT, INSERT, UPDATE ON projection_checkpoints TO beecastle_app`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE projection_checkpoints`);
  }
}
