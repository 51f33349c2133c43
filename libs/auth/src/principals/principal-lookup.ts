import { withOrganisation } from '@beecastle/database';
import { isRole, type Role } from '@beecastle/domain';
import type { Pool } from 'pg';

/** A signed-in member as the database has them now. */
export interface SessionPrincipal {
  readonly role: Role;
  readonly email: string;
  readonly name: string;
  readonly organisationName: string;
}

export interface SessionPrincipalKey {
  readonly organisationId: string;
  readonly userId: string;
  readonly sessionId: string;
}

/**
 * The live state behind access tokens, for several at once in one round trip (function
 * `auth_session_principal` once per token, each under its own organisation's row-level security):
 * for each, undefined unless the member is active and the session neither revoked nor expired.
 * Nothing here is cached: a deactivation, role change or logout shows on the very next request, on
 * every instance.
 */
export async function lookUpSessionPrincipals(
  pool: Pool,
  keys: readonly SessionPrincipalKey[],
): Promise<(SessionPrincipal | undefined)[]> {
  const { rows } = await pool.query<{
    i: string;
    role: string;
    email: string;
    name: string;
    organisation_name: string;
  }>({
    name: 'auth-session-principals',
    text: `SELECT k.i, p.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS k(o, u, s, i)
           CROSS JOIN LATERAL auth_session_principal(k.o, k.u, k.s) p`,
    values: [
      keys.map((k) => k.organisationId),
      keys.map((k) => k.userId),
      keys.map((k) => k.sessionId),
    ],
  });
  const found: (SessionPrincipal | undefined)[] = keys.map(() => undefined);
  for (const row of rows) {
    if (!isRole(row.role)) continue;
    found[Number(row.i) - 1] = {
      role: row.role,
      email: row.email,
      name: row.name,
      organisationName: row.organisation_name,
    };
  }
  return found;
}

export async function lookUpSessionPrincipal(
  pool: Pool,
  organisationId: string,
  userId: string,
  sessionId: string,
): Promise<SessionPrincipal | undefined> {
  const [principal] = await lookUpSessionPrincipals(pool, [{ organisationId, userId, sessionId }]);
  return principal;
}

/** An API key's row and its creator's live membership, whatever their state: the caller decides. */
export interface ApiKeyRecord {
  readonly secretHash: Buffer;
  readonly name: string;
  readonly role: Role;
  readonly revoked: boolean;
  readonly expired: boolean;
  readonly createdBy: string;
  readonly creator:
    | {
        readonly role: Role;
        readonly active: boolean;
        readonly email: string;
        readonly name: string;
      }
    | undefined;
  readonly organisationName: string;
  readonly lastUsedAt: Date | undefined;
}

export interface ApiKeyLookupKey {
  readonly organisationId: string;
  readonly apiKeyId: string;
}

/** Several keys' rows in one round trip, each under its own organisation (`auth_api_key_principal`). */
export async function lookUpApiKeys(
  pool: Pool,
  keys: readonly ApiKeyLookupKey[],
): Promise<(ApiKeyRecord | undefined)[]> {
  const { rows } = await pool.query<{
    i: string;
    secret_hash: Buffer;
    key_name: string;
    key_role: string;
    revoked_at: Date | null;
    expired: boolean;
    created_by: string;
    creator_role: string | null;
    creator_status: string | null;
    creator_email: string | null;
    creator_name: string | null;
    organisation_name: string;
    last_used_at: Date | null;
  }>({
    name: 'auth-api-key-principals',
    text: `SELECT k.i, p.* FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(o, id, i)
           CROSS JOIN LATERAL auth_api_key_principal(k.o, k.id) p`,
    values: [keys.map((k) => k.organisationId), keys.map((k) => k.apiKeyId)],
  });
  const found: (ApiKeyRecord | undefined)[] = keys.map(() => undefined);
  for (const row of rows) {
    if (!isRole(row.key_role)) continue;
    const creatorRole = row.creator_role;
    found[Number(row.i) - 1] = {
      secretHash: row.secret_hash,
      name: row.key_name,
      role: row.key_role,
      revoked: row.revoked_at !== null,
      expired: row.expired,
      createdBy: row.created_by,
      creator:
        creatorRole !== null && isRole(creatorRole)
          ? {
              role: creatorRole,
              active: row.creator_status === 'active',
              email: row.creator_email ?? '',
              name: row.creator_name ?? '',
            }
          : undefined,
      organisationName: row.organisation_name,
      lastUsedAt: row.last_used_at ?? undefined,
    };
  }
  return found;
}

export async function lookUpApiKey(
  pool: Pool,
  organisationId: string,
  apiKeyId: string,
): Promise<ApiKeyRecord | undefined> {
  const [record] = await lookUpApiKeys(pool, [{ organisationId, apiKeyId }]);
  return record;
}

/**
 * Records that a key was used, unless a use within the last `intervalSeconds` is recorded already
 * (by this instance or another): at most one write a minute per key, whatever the traffic.
 */
export async function recordApiKeyUse(
  pool: Pool,
  organisationId: string,
  apiKeyId: string,
  usedAt: Date,
  intervalSeconds: number,
): Promise<void> {
  await withOrganisation(pool, organisationId, (client) =>
    client.query(
      `INSERT INTO api_key_usage (org_id, key_id, last_used_at) VALUES ($1, $2, $3)
       ON CONFLICT (org_id, key_id) DO UPDATE SET last_used_at = excluded.last_used_at
        WHERE api_key_usage.last_used_at < excluded.last_used_at - make_interval(secs => $4)`,
      [organisationId, apiKeyId, usedAt, intervalSeconds],
    ),
  );
}
