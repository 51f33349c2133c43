import { randomUUID } from 'node:crypto';

/**
 * One valid row for every table under row-level security, for the isolation tests. The tests
 * assert that this map covers every such table the catalogue holds, so a migration that adds a
 * tenant table fails them until its row is written here.
 */
export interface TenantRowContext {
  readonly orgId: string;
  readonly userId: string;
  /** Rows that refer to a session refer to this one (seeded first, in map order). */
  readonly sessionId: string;
}

export interface TenantRowInsert {
  readonly sql: string;
  readonly params: unknown[];
}

export function tenantRowContext(orgId: string, userId?: string): TenantRowContext {
  return { orgId, userId: userId ?? randomUUID(), sessionId: randomUUID() };
}

/** In insertion order: a row's references come before it. */
export const TENANT_ROWS: Readonly<Record<string, (c: TenantRowContext) => TenantRowInsert>> = {
  organisations: (c) => ({
    sql: `INSERT INTO organisations (org_id, name, revision, created_at, updated_at)
          VALUES ($1, 'Organisation', 0, now(), now())`,
    params: [c.orgId],
  }),
  memberships: (c) => ({
    sql: `INSERT INTO memberships (org_id, user_id, email, name, role, status, revision, created_at, updated_at)
          VALUES ($1, $2, $3, 'Member', 'owner', 'active', 0, now(), now())`,
    params: [c.orgId, c.userId, `${c.userId}@example.com`],
  }),
  api_keys: (c) => ({
    sql: `INSERT INTO api_keys (org_id, key_id, name, role, secret_hash, created_by, created_at, revision)
          VALUES ($1, $2, 'Key', 'viewer', sha256(convert_to($3, 'UTF8')), $4, now(), 0)`,
    params: [c.orgId, randomUUID(), randomUUID(), c.userId],
  }),
  api_key_usage: (c) => ({
    sql: `INSERT INTO api_key_usage (org_id, key_id, last_used_at) VALUES ($1, $2, now())`,
    params: [c.orgId, randomUUID()],
  }),
  sessions: (c) => ({
    sql: `INSERT INTO sessions (org_id, session_id, user_id, expires_at)
          VALUES ($1, $2, $3, now() + interval '1 hour')`,
    params: [c.orgId, c.sessionId, c.userId],
  }),
  refresh_tokens: (c) => ({
    sql: `INSERT INTO refresh_tokens (org_id, token_hash, session_id, expires_at)
          VALUES ($1, sha256(convert_to($2, 'UTF8')), $3, now() + interval '1 day')`,
    params: [c.orgId, randomUUID(), c.sessionId],
  }),
  request_log: (c) => ({
    sql: `INSERT INTO request_log (org_id, at, request_id, method, route, status, latency_ms, user_id)
          VALUES ($1, now(), $2, 'GET', '/v1/me', 200, 1.5, $3)`,
    params: [c.orgId, `seed-${randomUUID()}`, c.userId],
  }),
  contacts: (c) => ({
    sql: `INSERT INTO contacts (org_id, contact_id, revision, first_name, name_key, search_text,
                                created_at, updated_at, created_by, updated_by)
          VALUES ($1, $2, 0, 'Ada', 'ada', 'ada', now(), now(), $3, $3)`,
    params: [c.orgId, `seed-${c.sessionId}`, c.userId],
  }),
  interactions: (c) => ({
    sql: `INSERT INTO interactions (org_id, contact_id, interaction_id, revision, type, occurred_at,
                                    created_at, updated_at, created_by, updated_by)
          VALUES ($1, $2, $3, 1, 'note', now(), now(), now(), $4, $4)`,
    params: [c.orgId, `seed-${c.sessionId}`, randomUUID(), c.userId],
  }),
  idempotency_keys: (c) => ({
    sql: `INSERT INTO idempotency_keys (org_id, key, fingerprint, claim, state)
          VALUES ($1, $2, sha256(convert_to($2, 'UTF8')), $3, 'in_flight')`,
    params: [c.orgId, `seed-${randomUUID()}`, randomUUID()],
  }),
  organisation_keys: (c) => ({
    // An organisation key names the master key that wraps it (a global row, made once).
    sql: `WITH master AS (
            INSERT INTO master_keys (master_key_id, check_value) VALUES ('seed-master', '\\x00')
            ON CONFLICT DO NOTHING)
          INSERT INTO organisation_keys (org_id, version, master_key_id, wrapped_key)
          VALUES ($1, 1, 'seed-master', '\\x01')`,
    params: [c.orgId],
  }),
  data_keys: (c) => ({
    sql: `INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
          VALUES ($1, $2, 1, 1, '\\x02')`,
    params: [c.orgId, randomUUID()],
  }),
};
