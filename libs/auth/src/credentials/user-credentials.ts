import { isRole, type Role } from '@beecastle/domain';
import { asSignedInUser } from '@beecastle/database';
import type { Pool } from 'pg';

/**
 * The one form of an email address that accounts are stored and looked up by. Whoever writes
 * `users.email` must store it in this form.
 */
export function normaliseEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

export interface UserCredentials {
  readonly userId: string;
  readonly passwordHash: string;
}

/** `users` is global: an email identifies one account across every organisation it belongs to. */
export async function findUserCredentials(
  pool: Pool,
  normalisedEmail: string,
): Promise<UserCredentials | undefined> {
  const { rows } = await pool.query<{ id: string; password_hash: string }>(
    `SELECT id, password_hash FROM users WHERE email = $1`,
    [normalisedEmail],
  );
  const row = rows[0];
  return row && { userId: row.id, passwordHash: row.password_hash };
}

/** Stores a hash with current parameters after a sign-in proved the password. */
export async function replacePasswordHash(
  pool: Pool,
  userId: string,
  passwordHash: string,
): Promise<void> {
  // password_changed_at stays: the password is the same, only its hash is stronger.
  await pool.query(`UPDATE users SET password_hash = $2 WHERE id = $1`, [userId, passwordHash]);
}

export interface ActiveMembership {
  readonly organisationId: string;
  readonly organisationName: string;
  readonly role: Role;
}

/**
 * The organisations a user is an active member of, readable only once their password has been
 * checked (asSignedInUser: policies `memberships_own` and `organisations_member`).
 */
export async function listActiveMemberships(
  pool: Pool,
  userId: string,
): Promise<ActiveMembership[]> {
  return asSignedInUser(pool, userId, async (client) => {
    const { rows } = await client.query<{ org_id: string; name: string; role: string }>(
      `SELECT m.org_id, o.name, m.role
         FROM memberships m JOIN organisations o ON o.org_id = m.org_id
        WHERE m.user_id = $1 AND m.status = 'active'
        ORDER BY o.name, m.org_id`,
      [userId],
    );
    return rows
      .filter((row) => isRole(row.role))
      .map((row) => ({
        organisationId: row.org_id,
        organisationName: row.name,
        role: row.role as Role,
      }));
  });
}
