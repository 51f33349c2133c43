import { randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import type { Pool, PoolClient } from 'pg';

/** The first answer to a key, as it is replayed. */
export interface StoredAnswer {
  readonly status: number;
  /** Location and ETag, when the answer had them. */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body as sent, or null for none (204). */
  readonly body: unknown;
}

/** What a key holds when a request presents it. */
export type KeyClaim =
  /** Ours to run: no one had it (or its holder died, or it expired). */
  | { readonly outcome: 'claimed'; readonly claim: string }
  /** Answered before, for this same request. */
  | { readonly outcome: 'replay'; readonly answer: StoredAnswer }
  /** Used before for a different request. */
  | { readonly outcome: 'reused' }
  /** Its first request is still running. */
  | { readonly outcome: 'in-flight' };

export interface AnswerToStore {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body exactly as serialised for the client, or null for none. */
  readonly bodyJson: string | null;
}

export interface IdempotencyTimings {
  /** How long a key is remembered. */
  readonly retentionSeconds: number;
  /** How long an in-flight key is left to its holder before another request may take it over. */
  readonly inFlightTimeoutSeconds: number;
}

export const DEFAULT_TIMINGS: IdempotencyTimings = {
  retentionSeconds: 24 * 60 * 60,
  inFlightTimeoutSeconds: 60,
};

interface KeyRow {
  fingerprint: Buffer;
  state: 'in_flight' | 'done';
  status: number | null;
  headers: Record<string, string> | null;
  body: unknown;
  expired: boolean;
  abandoned: boolean;
}

/**
 * Idempotency keys in PostgreSQL (table `idempotency_keys`), each organisation's under its own
 * row-level security: another organisation's key is invisible, and the same key string in two
 * organisations is two keys.
 */
export class IdempotencyStore {
  constructor(
    private readonly pool: Pool,
    private readonly timings: IdempotencyTimings = DEFAULT_TIMINGS,
  ) {}

  /** Takes the key for this request, or says why not. */
  claim(organisationId: string, key: string, fingerprint: Buffer): Promise<KeyClaim> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      // A key released between the insert and the read is gone: insert again (bounded, as each
      // round means another request finished with the key in between).
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const claim = randomUUID();
        const inserted = await client.query(
          `INSERT INTO idempotency_keys (org_id, key, fingerprint, claim, state)
           VALUES ($1, $2, $3, $4, 'in_flight')
           ON CONFLICT (org_id, key) DO NOTHING`,
          [organisationId, key, fingerprint, claim],
        );
        if (inserted.rowCount === 1) return { outcome: 'claimed', claim };

        const row = await this.lockedRow(client, organisationId, key);
        if (!row) continue;
        const sameRequest = row.fingerprint.equals(fingerprint);
        if (row.expired || (row.abandoned && sameRequest)) {
          await this.takeOver(client, organisationId, key, fingerprint, claim);
          return { outcome: 'claimed', claim };
        }
        if (!sameRequest) return { outcome: 'reused' };
        if (row.state === 'in_flight') return { outcome: 'in-flight' };
        return {
          outcome: 'replay',
          answer: { status: row.status!, headers: row.headers ?? {}, body: row.body },
        };
      }
      return { outcome: 'in-flight' };
    });
  }

  /** Records the answer, if the key is still this attempt's; false if it was taken over. */
  async complete(
    organisationId: string,
    key: string,
    claim: string,
    answer: AnswerToStore,
  ): Promise<boolean> {
    const { rowCount } = await withOrganisation(this.pool, organisationId, (client) =>
      client.query(
        `UPDATE idempotency_keys
            SET state = 'done', status = $4, headers = $5, body = $6::json, completed_at = now()
          WHERE org_id = $1 AND key = $2 AND claim = $3 AND state = 'in_flight'`,
        [organisationId, key, claim, answer.status, answer.headers, answer.bodyJson],
      ),
    );
    return rowCount === 1;
  }

  /** Forgets the key (the attempt failed on the server's side), so that a retry runs again. */
  async release(organisationId: string, key: string, claim: string): Promise<boolean> {
    const { rowCount } = await withOrganisation(this.pool, organisationId, (client) =>
      client.query(
        `DELETE FROM idempotency_keys
          WHERE org_id = $1 AND key = $2 AND claim = $3 AND state = 'in_flight'`,
        [organisationId, key, claim],
      ),
    );
    return rowCount === 1;
  }

  /** Deletes the organisation's keys older than the retention; how many. */
  async purgeExpired(organisationId: string): Promise<number> {
    const { rowCount } = await withOrganisation(this.pool, organisationId, (client) =>
      client.query(
        `DELETE FROM idempotency_keys
          WHERE org_id = $1 AND created_at < now() - make_interval(secs => $2)`,
        [organisationId, this.timings.retentionSeconds],
      ),
    );
    return rowCount ?? 0;
  }

  private async lockedRow(
    client: PoolClient,
    organisationId: string,
    key: string,
  ): Promise<KeyRow | undefined> {
    const { rows } = await client.query<KeyRow>(
      `SELECT fingerprint, state, status, headers, body,
              created_at < now() - make_interval(secs => $3) AS expired,
              state = 'in_flight' AND created_at < now() - make_interval(secs => $4) AS abandoned
         FROM idempotency_keys
        WHERE org_id = $1 AND key = $2
          FOR UPDATE`,
      [organisationId, key, this.timings.retentionSeconds, this.timings.inFlightTimeoutSeconds],
    );
    return rows[0];
  }

  private async takeOver(
    client: PoolClient,
    organisationId: string,
    key: string,
    fingerprint: Buffer,
    claim: string,
  ): Promise<void> {
    await client.query(
      `UPDATE idempotency_keys
          SET fingerprint = $3, claim = $4, state = 'in_flight', status = NULL, headers = NULL,
              body = NULL, created_at = now(), completed_at = NULL
        WHERE org_id = $1 AND key = $2`,
      [organisationId, key, fingerprint, claim],
    );
  }
}
