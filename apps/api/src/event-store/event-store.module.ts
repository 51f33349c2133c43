import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { PostgresEventStore, type EventStore } from '@beecastle/event-store';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';

/** The event log as command handlers see it: the port, on the application role's pool. */
export const EVENT_STORE = Symbol('EventStore');

@Injectable()
class EventStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.store instanceof PostgresEventStore) await this.store.close();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: EVENT_STORE,
      inject: [APP_POOL],
      useFactory: (pool: Pool): EventStore => new PostgresEventStore(pool),
    },
    EventStoreLifecycle,
  ],
  exports: [EVENT_STORE],
})
export class EventStoreModule {}
