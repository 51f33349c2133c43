import type { Logger } from 'pino';

/**
 * One thing the API needs before it should take traffic. Resolves when it is there, rejects with
 * the reason (logged, never shown) when it is not. The projector-lag check joins the list here.
 */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('ReadinessChecks');

export type CheckStatus = 'up' | 'down';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, CheckStatus>>;
}

// A probe must answer quickly even when a dependency hangs (a connect to a dropped host, say).
export const READINESS_CHECK_TIMEOUT_MS = 3_000;

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Runs every check at once; ready only when all are up. */
export class ReadinessService {
  constructor(
    private readonly checks: readonly ReadinessCheck[],
    private readonly logger: Logger,
    private readonly timeoutMs = READINESS_CHECK_TIMEOUT_MS,
  ) {}

  async report(): Promise<ReadinessReport> {
    const results = await Promise.all(
      this.checks.map(async (check): Promise<[string, CheckStatus]> => {
        try {
          await withTimeout(check.check(), this.timeoutMs);
          return [check.name, 'up'];
        } catch (error) {
          this.logger.warn({ check: check.name, err: error }, 'readiness check failed');
          return [check.name, 'down'];
        }
      }),
    );
    return {
      ready: results.every(([, status]) => status === 'up'),
      checks: Object.fromEntries(results),
    };
  }
}
