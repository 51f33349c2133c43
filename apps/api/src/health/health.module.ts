import { Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../logging/logging.module';
import { DatabaseReadinessCheck } from './database-readiness.check';
import { HealthController } from './health.controller';
import { READINESS_CHECKS, ReadinessService, type ReadinessCheck } from './readiness';

@Module({
  controllers: [HealthController],
  providers: [
    DatabaseReadinessCheck,
    {
      // Every readiness check, in one list: add the projector-lag check here when it exists.
      provide: READINESS_CHECKS,
      useFactory: (database: DatabaseReadinessCheck): ReadinessCheck[] => [database],
      inject: [DatabaseReadinessCheck],
    },
    {
      provide: ReadinessService,
      useFactory: (checks: ReadinessCheck[], logger: Logger) =>
        new ReadinessService(checks, logger),
      inject: [READINESS_CHECKS, LOGGER],
    },
  ],
})
export class HealthModule {}
