import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { hashPassword, normaliseEmail, passwordProblem, verifyPassword } from '@beecastle/auth';
import { DomainError } from '@beecastle/domain';
import { isEmail } from 'class-validator';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';

export interface UserAccount {
  readonly id: string;
  /** False when the email already had an account: its own password stays. */
  readonly created: boolean;
}

const PASSWORD_PROBLEMS = {
  too_short: 'The password is too short (at least 12 characters)',
  too_long: 'The password is too long (at most 256 characters)',
  too_common: 'The password is one of the most common passwords',
  contains_email: 'The password contains the email address',
} as const;

/** Normalised as sign-in normalises it (trimmed, NFC, lower case), then checked. */
export function validEmail(email: string): string {
  const normalised = normaliseEmail(email);
  if (normalised.length > 254 || !isEmail(normalised)) {
    throw new DomainError('VALIDATION_FAILED', 'email is not a valid email address');
  }
  return normalised;
}

/**
 * Credentials (global table `users`): one account per email, whatever organisations it belongs
 * to. Who the user is in an organisation lives in that organisation's stream.
 */
@Injectable()
export class UserAccounts {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async findByEmail(email: string): Promise<{ id: string; passwordHash: string } | undefined> {
    const { rows } = await this.pool.query<{ id: string; password_hash: string }>(
      'SELECT id, password_hash FROM users WHERE email = $1',
      [email],
    );
    return rows[0] && { id: rows[0].id, passwordHash: rows[0].password_hash };
  }

  /** Refuses a password the policy does not accept, before anything is hashed or stored. */
  checkPolicy(password: string, email: string): void {
    const problem = passwordProblem(password, email);
    if (problem) throw new DomainError('VALIDATION_FAILED', PASSWORD_PROBLEMS[problem]);
  }

  /**
   * The email's account, created with this password if it has none. Two requests creating the
   * same email at once meet at the unique index: one inserts, the other gets that account (and,
   * like any existing account, its password is not changed).
   */
  async findOrCreate(email: string, password: string): Promise<UserAccount> {
    const existing = await this.findByEmail(email);
    if (existing) return { id: existing.id, created: false };
    this.checkPolicy(password, email);
    const passwordHash = await hashPassword(password);
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (email) DO NOTHING RETURNING id`,
      [randomUUID(), email, passwordHash],
    );
    if (rows[0]) return { id: rows[0].id, created: true };
    const winner = await this.findByEmail(email);
    if (!winner) throw new Error('An account vanished between its insert conflict and its read');
    return { id: winner.id, created: false };
  }

  async passwordMatches(accountId: string, password: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE id = $1',
      [accountId],
    );
    return rows[0] !== undefined && verifyPassword(password, rows[0].password_hash);
  }
}
