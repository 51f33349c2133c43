import { createHash } from 'node:crypto';
import { AUTH_SETTINGS } from '@beecastle/config';
import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

export interface LoginThrottleLimits {
  readonly accountFailures: number;
  readonly ipFailures: number;
  readonly windowSeconds: number;
}

/** Refused before the password is looked at: try again after this many seconds. */
export interface Throttled {
  readonly retryAfterSeconds: number;
}

/**
 * Failed sign-ins counted per account and per client IP in PostgreSQL (table `login_throttle`), so
 * every API instance shares the counts. Once either count has used up its window's allowance, the
 * next attempt is refused with the time until the window ends, whatever its password. A
 * successful sign-in clears its account's count (not the IP's: one good password must not
 * launder an address's guessing at other accounts). Unknown emails are counted like known ones,
 * so the throttle says nothing about which accounts exist. Keys are hashes: the table holds no
 * email or address in clear.
 */
export class LoginThrottle {
  private readonly byAccount: RateLimiterPostgres;
  private readonly byIp: RateLimiterPostgres;

  constructor(
    pool: Pool,
    private readonly limits: LoginThrottleLimits = AUTH_SETTINGS.loginThrottle,
  ) {
    const common = {
      storeClient: pool,
      storeType: 'pool',
      tableName: 'login_throttle',
      tableCreated: true,
      duration: limits.windowSeconds,
    };
    this.byAccount = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'account',
      points: limits.accountFailures,
    });
    this.byIp = new RateLimiterPostgres({ ...common, keyPrefix: 'ip', points: limits.ipFailures });
  }

  /** Whether an attempt may go ahead; undefined when it may. */
  async check(email: string, clientIp: string): Promise<Throttled | undefined> {
    const [account, ip] = await Promise.all([
      this.byAccount.get(key(email)),
      this.byIp.get(key(clientIp)),
    ]);
    const waits = [
      exhausted(account, this.limits.accountFailures),
      exhausted(ip, this.limits.ipFailures),
    ].filter((ms): ms is number => ms !== undefined);
    if (waits.length === 0) return undefined;
    return { retryAfterSeconds: Math.max(1, Math.ceil(Math.max(...waits) / 1000)) };
  }

  async recordFailure(email: string, clientIp: string): Promise<void> {
    const outcomes = await Promise.allSettled([
      this.byAccount.consume(key(email)),
      this.byIp.consume(key(clientIp)),
    ]);
    for (const outcome of outcomes) {
      // Over the limit rejects with the count: expected, the next check refuses. Anything else is
      // the database failing, and a throttle that cannot count must not let attempts through.
      if (outcome.status === 'rejected' && !(outcome.reason instanceof RateLimiterRes)) {
        throw outcome.reason;
      }
    }
  }

  async recordSuccess(email: string): Promise<void> {
    await this.byAccount.delete(key(email));
  }
}

function key(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

function exhausted(state: RateLimiterRes | null, allowed: number): number | undefined {
  return state && state.consumedPoints >= allowed ? state.msBeforeNext : undefined;
}
