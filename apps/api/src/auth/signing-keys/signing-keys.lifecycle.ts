import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ensureSigningKey, SigningKeyStore } from '@beecastle/auth';
import type { Keyring } from '@beecastle/crypto';
import type { EventStore } from '@beecastle/event-store';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { EVENT_STORE, KEYRING } from '../../event-store/event-store.module';

const RETRY_MS = 2_000;

/**
 * Before the API takes requests: a signing key exists (the first instance ever to start creates
 * it, recording SigningKeyRotated), and this instance has loaded the keys and keeps them fresh.
 * With the database unreachable at start the API still starts (health answers, readiness says
 * why) and keeps trying; until then no token can be issued or verified.
 */
@Injectable()
export class SigningKeysLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('SigningKeys');
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(KEYRING) private readonly keyring: Keyring,
    private readonly keys: SigningKeyStore,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prepare();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.keys.stop();
  }

  private async prepare(): Promise<void> {
    try {
      const created = await ensureSigningKey(this.pool, this.events, this.keyring, {
        id: 'api-start',
      });
      if (created) this.logger.log(`created the first token signing key ${created.keyId}`);
      await this.keys.start();
    } catch (error) {
      if (this.stopped) return;
      this.logger.warn(`signing keys not loaded yet, retrying: ${String(error)}`);
      this.retry = setTimeout(() => void this.prepare(), RETRY_MS);
      this.retry.unref();
    }
  }
}
