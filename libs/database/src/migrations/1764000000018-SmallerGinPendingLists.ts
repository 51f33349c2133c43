import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The pending list each GIN index may gather before it is merged into the index (kB). */
export const GIN_PENDING_LIST_KB = 512;

/** The GIN indexes of the read models: the contact search (trigrams) and the tags. */
export const GIN_INDEXES = ['contacts_search', 'contacts_tags'] as const;

/**
 * Smaller pending lists for the contacts' GIN indexes, so that no projector batch stalls.
 *
 * A GIN index with `fastupdate` (the default) takes new entries into an unsorted pending list and
 * merges the list into the index once it passes `gin_pending_list_limit`, 4 MB by default. The
 * merge is done by whichever write passes the limit: here, a projector batch's upsert, which then
 * stalled for about 100 ms (judging by the lags, which came in clusters) while every batch behind it
 * waited. Under bench:api's command load that was
 * every 4 to 5 seconds, clustered in time, and it was the whole tail of the projection lag (p99
 * 105–109 ms with it, 67–69 ms at 128–512 kB, in the same session's runs). At 512 kB the merges
 * are eight times smaller and more frequent, and cost about the same in all. Turning `fastupdate`
 * off instead (every row straight into the index) measured worse: lag p50 63 ms, p99 124 ms. A
 * search also reads the whole pending list, so a shorter one helps queries too. No rewrite: the
 * setting applies from the next merge.
 */
export class SmallerGinPendingLists1764000000018 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    for (const index of GIN_INDEXES) {
      await queryRunner.query(
        `ALTER INDEX ${index} SET (gin_pending_list_limit = ${GIN_PENDING_LIST_KB})`,
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of GIN_INDEXES) {
      await queryRunner.query(`ALTER INDEX ${index} RESET (gin_pending_list_limit)`);
    }
  }
}
