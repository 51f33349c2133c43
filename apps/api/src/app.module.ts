import { type DynamicModule, Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import type { MasterKeyProvider } from '@beecastle/crypto';
import type { Logger } from 'pino';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ContactsModule } from './contacts/contacts.module';
import { DatabaseModule } from './database/database.module';
import { EventStoreModule } from './event-store/event-store.module';
import { HealthModule } from './health/health.module';
import { IdempotencyModule } from './http/idempotency/idempotency.module';
import { LoggingModule } from './logging/logging.module';
import { OrganisationsModule } from './organisations/organisations.module';

export interface AppModuleOptions {
  /** The application role's connection string. */
  readonly databaseUrl: string;
  /** Connections in the application role's pool (DATABASE_POOL_SIZE). */
  readonly databasePoolSize: number;
  /** Wraps the organisation keys the event log's payloads are encrypted under. */
  readonly masterKey: MasterKeyProvider;
  readonly logger: Logger;
  /** CONTACT_STATE_CACHE_SIZE: see ContactStates. */
  readonly contactStateCacheSize: number;
}

@Module({})
export class AppModule {
  static register(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggingModule.register(options.logger),
        DatabaseModule.register(options.databaseUrl, options.databasePoolSize),
        EventStoreModule.register({
          masterKey: options.masterKey,
          databaseUrl: options.databaseUrl,
        }),
        // One command and query bus for every module's handlers.
        CqrsModule.forRoot(),
        HealthModule,
        AuthModule,
        IdempotencyModule,
        OrganisationsModule,
        AuditModule,
        ContactsModule.register({ contactStateCacheSize: options.contactStateCacheSize }),
      ],
    };
  }
}
