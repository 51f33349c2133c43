import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { MasterKeyMismatchError, type MasterKeyProvider } from '@beecastle/crypto';
import { openEventLog, type EventLog } from '@beecastle/read-model';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';

/** The event log as command handlers see it: the port, encrypted, on the application role's pool. */
export const EVENT_STORE = Symbol('EventStore');
/** Its keys: erasure destroys a contact's data key through this. */
export const KEYRING = Symbol('Keyring');
const EVENT_LOG = Symbol('EventLog');

export interface EventStoreModuleOptions {
  readonly masterKey: MasterKeyProvider;
  /** The application role's connection string, for the LISTEN sessions of the log and the keys. */
  readonly databaseUrl: string;
}

@Injectable()
class EventStoreLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('EventLog');

  constructor(@Inject(EVENT_LOG) private readonly log: EventLog) {}

  /**
   * Fails closed: a master key that is not the one the keys are sealed with stops the start, with
   * a message that says what to do. A database that cannot be reached yet does not (readiness
   * reports it, and the check runs again before the first key is used).
   */
  async onModuleInit(): Promise<void> {
    try {
      await this.log.keyring.assertMasterKey();
    } catch (error) {
      if (error instanceof MasterKeyMismatchError) throw error;
      this.logger.warn(`master key not checked yet: ${String(error)}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.log.close();
  }
}

@Global()
@Module({})
export class EventStoreModule {
  static register(options: EventStoreModuleOptions): DynamicModule {
    return {
      module: EventStoreModule,
      providers: [
        {
          provide: EVENT_LOG,
          inject: [APP_POOL],
          useFactory: (pool: Pool): EventLog =>
            openEventLog(pool, {
              masterKey: options.masterKey,
              listenConnectionString: options.databaseUrl,
            }),
        },
        { provide: EVENT_STORE, inject: [EVENT_LOG], useFactory: (log: EventLog) => log.store },
        { provide: KEYRING, inject: [EVENT_LOG], useFactory: (log: EventLog) => log.keyring },
        EventStoreLifecycle,
      ],
      exports: [EVENT_STORE, KEYRING],
    };
  }
}
