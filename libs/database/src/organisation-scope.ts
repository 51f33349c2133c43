import type { Pool, PoolClient } from 'pg';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;

/**
 * Runs `work` in one transaction whose organisation is `organisationId`: row-level security then
 * admits that organisation's rows and no other's. The setting is transaction-local
 * (`set_config(..., true)`), so it ends with COMMIT or ROLLBACK and a pooled connection never
 * carries it into someone else's request. Any error rolls the whole transaction back.
 */
export async function withOrganisation<T>(
  pool: Pool,
  organisationId: string,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, { 'app.org_id': organisationId }, work);
}

/**
 * As withOrganisation, for the one step that comes before an organisation is chosen: a user whose
 * password has just been checked may read their own memberships (policy `memberships_own`).
 */
export async function asSignedInUser<T>(
  pool: Pool,
  userId: string,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, { 'app.user_id': userId }, work);
}

type ScopeSetting = 'app.org_id' | 'app.user_id';

async function inTransaction<T>(
  pool: Pool,
  settings: Partial<Record<ScopeSetting, string>>,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const entries = Object.entries(settings);
  for (const [, value] of entries) {
    // Checked here as well as by the ::uuid cast in app_org_id(): a bad value must fail before
    // any query, not become a policy that silently matches nothing.
    if (!UUID.test(value)) throw new Error('An organisation or user id is a lower-case UUID');
  }
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    for (const [name, value] of entries) {
      await client.query('SELECT set_config($1, $2, true)', [name, value]);
    }
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    // A connection whose rollback failed is in an unknown state: destroy it rather than reuse it.
    client.release(broken);
  }
}
