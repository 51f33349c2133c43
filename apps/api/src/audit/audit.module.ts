import { Module } from '@nestjs/common';
import { RequestLogWriter } from '@beecastle/audit';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';
import { LOGGER } from '../logging/logging.module';
import { AuditController } from './audit.controller';
import { ListRequestsHandler } from './list-requests/list-requests.handler';
import { RequestLogLifecycle } from './request-log.lifecycle';

/**
 * The request log's writer (create-app.ts hands it to the request-logging middleware) and the
 * audit queries. Deliberately not global: Nest shuts global modules down last, and the pool's
 * module is global, so this module's writer is flushed before the pool ends.
 */
@Module({
  controllers: [AuditController],
  providers: [
    {
      provide: RequestLogWriter,
      inject: [APP_POOL, LOGGER],
      useFactory: (pool: Pool, logger: Logger) =>
        new RequestLogWriter(pool, { log: logger.child({ component: 'request-log' }) }),
    },
    RequestLogLifecycle,
    ListRequestsHandler,
  ],
  exports: [RequestLogWriter],
})
export class AuditModule {}
