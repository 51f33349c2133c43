import type { Pool, PoolClient } from 'pg';
import { inTransaction } from './transaction';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;

/**
 * Runs `work` in one transaction whose organisation is `organisationId`: row-level security then
 * admits that organisation's rows and no other's. The setting is transaction-local
 * (`set_config(..., true)`), so it ends with COMMIT or ROLLBACK and a pooled connection never
 * carries it into someone else's request. Any error rolls the whole transaction back; so does a
 * change of the organisation inside `work` (which is refused), and a transaction `work` left
 * aborted is reported as the error it is rather than quietly not committed.
 */
export async function withOrganisation<T>(
  pool: Pool,
  organisationId: string,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  return inScope(pool, { 'app.org_id': organisationId }, work);
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
  return inScope(pool, { 'app.user_id': userId }, work);
}

interface Scope {
  readonly 'app.org_id': string;
  readonly 'app.user_id': string;
}

async function inScope<T>(
  pool: Pool,
  settings: Partial<Scope>,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  for (const value of Object.values(settings)) {
    // Checked here as well as by the ::uuid cast in app_org_id(): a bad value must fail before
    // any query, not become a policy that silently matches nothing. It also makes the values safe
    // to write into the SQL below, which saves the round trips that bind parameters would cost.
    if (!UUID.test(value)) throw new Error('An organisation or user id is a lower-case UUID');
  }
  // Both settings, always: the one not chosen is '' (unset) for this transaction whatever the
  // session holds.
  const org = settings['app.org_id'] ?? '';
  const user = settings['app.user_id'] ?? '';
  const scope = `set_config('app.org_id', '${org}', true), set_config('app.user_id', '${user}', true)`;
  // Before COMMIT, in COMMIT's round trip: refuse a transaction whose scope was changed inside it
  // (SET app.org_id, set_config(..., false), or work that ended the transaction itself), then
  // clear any session-level value so that a SET to the same organisation cannot outlive COMMIT on
  // a pooled connection, and put the transaction's own back for deferred triggers. A transaction
  // left aborted by a caught error fails here too, instead of COMMIT quietly rolling it back.
  const commit = `
    DO $$ BEGIN
      IF current_setting('app.org_id', true) IS DISTINCT FROM '${org}'
         OR current_setting('app.user_id', true) IS DISTINCT FROM '${user}' THEN
        RAISE EXCEPTION 'app.org_id or app.user_id was changed inside an organisation-scoped transaction'
          USING ERRCODE = '42501';
      END IF;
      PERFORM set_config('app.org_id', '', false), set_config('app.user_id', '', false);
      PERFORM ${scope};
    END $$;
    COMMIT`;
  return inTransaction(pool, work, { begin: `BEGIN; SELECT ${scope}`, commit });
}
