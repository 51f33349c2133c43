import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AUTH_SETTINGS } from '@beecastle/config';
import { recordApiKeyUse } from '@beecastle/auth';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';

/**
 * `lastUsedAt` of API keys, written off the request's path and at most once a minute per key: the
 * request goes on at once, and a busy key costs one write a minute, not one per request. A use
 * already recorded within the minute (by any instance: the lookup returns it) writes nothing.
 */
@Injectable()
export class ApiKeyUsageRecorder implements BeforeApplicationShutdown {
  private readonly logger = new Logger('ApiKeyUsage');
  private readonly intervalMs = AUTH_SETTINGS.apiKeyUsageWriteIntervalMs;
  private readonly writtenAt = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  noteUse(organisationId: string, apiKeyId: string, recordedAt: Date | undefined): void {
    const now = Date.now();
    if (recordedAt && now - recordedAt.getTime() < this.intervalMs) return;
    const written = this.writtenAt.get(apiKeyId);
    if (written !== undefined && now - written < this.intervalMs) return;
    this.forgetOldWrites(now);
    this.writtenAt.set(apiKeyId, now);
    const write = recordApiKeyUse(
      this.pool,
      organisationId,
      apiKeyId,
      new Date(now),
      this.intervalMs / 1000,
    )
      .catch((error: unknown) => {
        // Losing one lastUsedAt is not worth failing or slowing a request for.
        this.logger.warn(`could not record the use of API key ${apiKeyId}: ${String(error)}`);
      })
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Writes in flight finish before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private forgetOldWrites(now: number): void {
    if (this.writtenAt.size < 10_000) return;
    for (const [key, at] of this.writtenAt)
      if (now - at >= this.intervalMs) this.writtenAt.delete(key);
  }
}
