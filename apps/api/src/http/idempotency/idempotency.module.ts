import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IdempotencyStore } from './idempotency.store';

/** Idempotency-Key for every write of every controller: one global interceptor. */
@Module({
  providers: [
    {
      provide: IdempotencyStore,
      inject: [APP_POOL],
      useFactory: (pool: Pool) => new IdempotencyStore(pool),
    },
    { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
  ],
})
export class IdempotencyModule {}
