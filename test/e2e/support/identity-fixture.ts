import { randomUUID } from 'node:crypto';
import {
  hashPassword,
  issueApiKeySecret,
  normaliseEmail,
  type ScryptParameters,
} from '../../../libs/auth/src';
import { withOrganisation } from '../../../libs/database/src/organisation-scope';
import type { Role } from '../../../libs/domain/src';
import type { Pool } from 'pg';

/**
 * Users, organisations, memberships and API keys written straight into the tables (the `users`
 * row, and the rows the `access` projection would write), for tests of authentication that must
 * not depend on the organisation use cases. Cheap scrypt parameters unless a test asks otherwise.
 */
export const FAST_SCRYPT: ScryptParameters = { log2N: 10, r: 8, p: 1 };

export interface SeededUser {
  readonly userId: string;
  readonly email: string;
  readonly password: string;
}

export async function seedUser(
  pool: Pool,
  options: { email?: string; password?: string; scrypt?: ScryptParameters } = {},
): Promise<SeededUser> {
  const userId = randomUUID();
  const email = normaliseEmail(options.email ?? `user-${userId.slice(0, 8)}@example.test`);
  const password = options.password ?? `correct horse ${randomUUID()}`;
  const hash = await hashPassword(password, options.scrypt ?? FAST_SCRYPT);
  await pool.query(`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)`, [
    userId,
    email,
    hash,
  ]);
  return { userId, email, password };
}

export async function seedOrganisation(pool: Pool, name = 'Acme Ltd'): Promise<string> {
  const organisationId = randomUUID();
  await withOrganisation(pool, organisationId, (client) =>
    client.query(
      `INSERT INTO organisations (org_id, name, revision, created_at, updated_at)
       VALUES ($1, $2, 0, now(), now())`,
      [organisationId, name],
    ),
  );
  return organisationId;
}

export async function seedMembership(
  pool: Pool,
  organisationId: string,
  user: SeededUser,
  role: Role,
  status: 'active' | 'deactivated' = 'active',
): Promise<void> {
  await withOrganisation(pool, organisationId, (client) =>
    client.query(
      `INSERT INTO memberships (org_id, user_id, email, name, role, status, revision, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now())
       ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, status = excluded.status`,
      [organisationId, user.userId, user.email, `Member ${user.email}`, role, status],
    ),
  );
}

/** A member's role or status changes, as the projection would apply a UserRoleChanged etc. */
export async function updateMembership(
  pool: Pool,
  organisationId: string,
  userId: string,
  change: { role?: Role; status?: 'active' | 'deactivated' },
): Promise<void> {
  await withOrganisation(pool, organisationId, (client) =>
    client.query(
      `UPDATE memberships SET role = coalesce($3, role), status = coalesce($4, status)
        WHERE org_id = $1 AND user_id = $2`,
      [organisationId, userId, change.role ?? null, change.status ?? null],
    ),
  );
}

export interface SeededApiKey {
  readonly apiKeyId: string;
  readonly key: string;
}

export async function seedApiKey(
  pool: Pool,
  organisationId: string,
  createdBy: string,
  options: { role?: Role; name?: string; expiresAt?: Date | null } = {},
): Promise<SeededApiKey> {
  const apiKeyId = randomUUID();
  const { key, secretHash } = issueApiKeySecret(organisationId, apiKeyId);
  await withOrganisation(pool, organisationId, (client) =>
    client.query(
      `INSERT INTO api_keys (org_id, key_id, name, role, secret_hash, created_by, created_at, expires_at, revision)
       VALUES ($1, $2, $3, $4, $5, $6, now(), $7, 1)`,
      [
        organisationId,
        apiKeyId,
        options.name ?? 'integration',
        options.role ?? 'viewer',
        Buffer.from(secretHash, 'hex'),
        createdBy,
        options.expiresAt ?? null,
      ],
    ),
  );
  return { apiKeyId, key };
}

export async function revokeApiKey(
  pool: Pool,
  organisationId: string,
  apiKeyId: string,
): Promise<void> {
  await withOrganisation(pool, organisationId, (client) =>
    client.query(`UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND key_id = $2`, [
      organisationId,
      apiKeyId,
    ]),
  );
}

/** An organisation with one active member of the given role. */
export async function seedMember(
  pool: Pool,
  role: Role = 'owner',
  organisationName = 'Acme Ltd',
): Promise<SeededUser & { organisationId: string }> {
  const organisationId = await seedOrganisation(pool, organisationName);
  const user = await seedUser(pool);
  await seedMembership(pool, organisationId, user, role);
  return { ...user, organisationId };
}
