import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';
import type { ReadinessCheck } from './readiness';

/**
 * One statement proves the three things that matter: the server answers, the application role can
 * log in, and the migrated event log is there and readable by that role.
 */
@Injectable()
export class DatabaseReadinessCheck implements ReadinessCheck {
  readonly name = 'database';

  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async check(): Promise<void> {
    await this.pool.query('SELECT 1 FROM events LIMIT 0');
  }
}
