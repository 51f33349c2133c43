import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { createPool } from '@beecastle/database';
import type { Pool } from 'pg';

/** The application role's pool: INSERT/SELECT on the log, no ownership, no BYPASSRLS. */
export const APP_POOL = Symbol('AppPool');

@Injectable()
class AppPoolLifecycle implements OnApplicationShutdown {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  // After the HTTP server has closed (Nest calls this last), so in-flight requests keep their pool.
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

@Module({})
export class DatabaseModule {
  static register(databaseUrl: string, poolSize: number): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [
        {
          provide: APP_POOL,
          useFactory: () =>
            createPool(databaseUrl, { applicationName: 'beecastle-api', max: poolSize }),
        },
        AppPoolLifecycle,
      ],
      exports: [APP_POOL],
    };
  }
}
