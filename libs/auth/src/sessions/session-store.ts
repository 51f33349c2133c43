import { randomUUID } from 'node:crypto';
import { AUTH_SETTINGS } from '@beecastle/config';
import { withOrganisation } from '@beecastle/database';
import type { Pool, PoolClient } from 'pg';
import { issueRefreshToken, parseRefreshToken } from './refresh-token';

export interface StartedSession {
  readonly organisationId: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly refreshToken: string;
}

export type RefreshOutcome =
  | ({ readonly kind: 'rotated' } & StartedSession)
  /** Unknown, expired, or its session is over: refused, nothing else changes. */
  | { readonly kind: 'refused' }
  /** A spent token came back: its whole session has been revoked. */
  | { readonly kind: 'reused'; readonly organisationId: string; readonly sessionId: string };

export type RevocationReason = 'logout' | 'refresh_token_reuse' | 'user_deactivated';

export interface SessionLifetimes {
  readonly idleSeconds: number;
  readonly absoluteSeconds: number;
}

/**
 * Sign-in sessions and their refresh-token families (tables `sessions`, `refresh_tokens`, under
 * the organisation's row-level security). A refresh token is good once: using it spends it and
 * issues the next; a spent one presented again means two parties hold the family, so the session
 * ends for both. Times are the database's, so every instance agrees on them.
 */
export class SessionStore {
  constructor(
    private readonly pool: Pool,
    private readonly lifetimes: SessionLifetimes = {
      idleSeconds: AUTH_SETTINGS.refreshIdleSeconds,
      absoluteSeconds: AUTH_SETTINGS.refreshAbsoluteSeconds,
    },
  ) {}

  async start(organisationId: string, userId: string): Promise<StartedSession> {
    const sessionId = randomUUID();
    return withOrganisation(this.pool, organisationId, async (client) => {
      await client.query(
        `INSERT INTO sessions (org_id, session_id, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
        [organisationId, sessionId, userId, this.lifetimes.absoluteSeconds],
      );
      const refreshToken = await this.issue(client, organisationId, sessionId);
      return { organisationId, userId, sessionId, refreshToken };
    });
  }

  /**
   * Spends a refresh token and issues its successor. Of two requests racing with one token, the
   * first to lock its row wins; the second then finds it spent and revokes the session, so the
   * winner's new tokens die too: a token used twice cannot be told apart from a stolen one.
   */
  async refresh(refreshToken: string): Promise<RefreshOutcome> {
    const parsed = parseRefreshToken(refreshToken);
    if (!parsed) return { kind: 'refused' };
    const { organisationId, tokenHash } = parsed;
    return withOrganisation(this.pool, organisationId, async (client): Promise<RefreshOutcome> => {
      const spent = await client.query<{ session_id: string }>(
        `UPDATE refresh_tokens SET spent_at = now()
          WHERE org_id = $1 AND token_hash = $2 AND spent_at IS NULL AND expires_at > now()
          RETURNING session_id`,
        [organisationId, tokenHash],
      );
      const sessionId = spent.rows[0]?.session_id;
      if (sessionId === undefined) return this.refuseOrRevoke(client, organisationId, tokenHash);

      const session = await client.query<{ user_id: string; live: boolean; member: boolean }>(
        `SELECT s.user_id,
                s.revoked_at IS NULL AND s.expires_at > now() AS live,
                coalesce(m.status = 'active', false) AS member
           FROM sessions s
           LEFT JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
          WHERE s.org_id = $1 AND s.session_id = $2`,
        [organisationId, sessionId],
      );
      const row = session.rows[0];
      if (!row?.live) return { kind: 'refused' };
      if (!row.member) {
        await this.revokeIn(client, organisationId, sessionId, 'user_deactivated');
        return { kind: 'refused' };
      }
      const next = await this.issue(client, organisationId, sessionId);
      return {
        kind: 'rotated',
        organisationId,
        userId: row.user_id,
        sessionId,
        refreshToken: next,
      };
    });
  }

  /** Ends a session: its refresh tokens stop working, and so do its access tokens. */
  async revoke(organisationId: string, sessionId: string, reason: RevocationReason): Promise<void> {
    await withOrganisation(this.pool, organisationId, (client) =>
      this.revokeIn(client, organisationId, sessionId, reason),
    );
  }

  /**
   * Ends every live session of one member of one organisation (deactivation): tokens issued
   * before stay dead even if the member is reactivated later.
   */
  async revokeAllOf(
    organisationId: string,
    userId: string,
    reason: RevocationReason,
  ): Promise<number> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      const revoked = await client.query(
        `UPDATE sessions SET revoked_at = now(), revoked_reason = $3
          WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
        [organisationId, userId, reason],
      );
      return revoked.rowCount ?? 0;
    });
  }

  private async refuseOrRevoke(
    client: PoolClient,
    organisationId: string,
    tokenHash: Buffer,
  ): Promise<RefreshOutcome> {
    const known = await client.query<{ session_id: string; spent: boolean }>(
      `SELECT session_id, spent_at IS NOT NULL AS spent FROM refresh_tokens
        WHERE org_id = $1 AND token_hash = $2`,
      [organisationId, tokenHash],
    );
    const row = known.rows[0];
    if (!row?.spent) return { kind: 'refused' };
    await this.revokeIn(client, organisationId, row.session_id, 'refresh_token_reuse');
    return { kind: 'reused', organisationId, sessionId: row.session_id };
  }

  private async revokeIn(
    client: PoolClient,
    organisationId: string,
    sessionId: string,
    reason: RevocationReason,
  ): Promise<void> {
    // The first reason stands: a session revoked at logout and then replayed stays "logout".
    await client.query(
      `UPDATE sessions SET revoked_at = now(), revoked_reason = $3
        WHERE org_id = $1 AND session_id = $2 AND revoked_at IS NULL`,
      [organisationId, sessionId, reason],
    );
  }

  private async issue(
    client: PoolClient,
    organisationId: string,
    sessionId: string,
  ): Promise<string> {
    const { refreshToken, tokenHash } = issueRefreshToken(organisationId);
    // Never beyond the session's own end: the idle period cannot stretch the absolute one.
    await client.query(
      `INSERT INTO refresh_tokens (org_id, token_hash, session_id, expires_at)
       SELECT $1, $2, $3, least(now() + make_interval(secs => $4), s.expires_at)
         FROM sessions s WHERE s.org_id = $1 AND s.session_id = $3`,
      [organisationId, tokenHash, sessionId, this.lifetimes.idleSeconds],
    );
    return refreshToken;
  }
}
