import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` in one transaction on a pooled connection, for the global tables that have no
 * organisation (tenant tables go through withOrganisation). Any error rolls it back; a connection
 * whose rollback failed is destroyed rather than reused.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
