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

/**
 * The live state behind an access token, in one round trip (function `auth_session_principal`,
 * under the organisation's row-level security): undefined unless the member is active and the
 * session neither revoked nor expired. Nothing here is cached: a deactivation, role change or
 * logout shows on the very next request, on every instance.
 */
export async function lookUpSessionPrincipal(
  pool: Pool,
  organisationId: string,
  userId: string,
  sessionId: string,
): Promise<SessionPrincipal | undefined> {
  const { rows } = await pool.query<{
    role: string;
    email: string;
    name: string;
    organisation_name: string;
  }>({
    name: 'auth-session-principal',
    text: 'SELECT * FROM auth_session_principal($1, $2, $3)',
    values: [organisationId, userId, sessionId],
  });
  const row = rows[0];
  if (!row || !isRole(row.role)) return undefined;
  return {
    role: row.role,
    email: row.email,
    name: row.name,
    organisationName: row.organisation_name,
  };
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

export async function lookUpApiKey(
  pool: Pool,
  organisationId: string,
  apiKeyId: string,
): Promise<ApiKeyRecord | undefined> {
  const { rows } = await pool.query<{
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
    name: 'auth-api-key-principal',
    text: 'SELECT * FROM auth_api_key_principal($1, $2)',
    values: [organisationId, apiKeyId],
  });
  const row = rows[0];
  if (!row || !isRole(row.key_role)) return undefined;
  const creatorRole = row.creator_role;
  return {
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
