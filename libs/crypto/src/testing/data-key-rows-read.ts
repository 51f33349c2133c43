import type { Pool } from 'pg';

/**
 * How many rows of `data_keys` every session has read so far, by PostgreSQL's own statistics:
 * `session`'s counts are flushed first, and the owner's snapshot is cleared so that the figure is
 * fresh. For tests that a key function reads only the subjects it is given, whatever its plan.
 */
export async function dataKeyRowsRead(session: Pool, owner: Pool): Promise<number> {
  await session.query('SELECT pg_stat_force_next_flush()');
  await session.query('SELECT 1');
  await owner.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await owner.query<{ read: string }>(
    `SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::text AS read
       FROM pg_stat_user_tables WHERE relname = 'data_keys'`,
  );
  return Number(rows[0].read);
}
