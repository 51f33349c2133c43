import { Module, type DynamicModule } from '@nestjs/common';
import { CONTACT_COMMAND_HANDLERS } from './contact-command-handlers';
import { CONTACT_QUERY_HANDLERS } from './contact-query-handlers';
import { ContactQueriesController } from './contact-queries.controller';
import { CONTACT_STATES, ContactStates } from './contact-states';
import { ContactRepository } from './contact.repository';
import { ContactsController } from './contacts.controller';
import { ImportContactsHandler } from './import-contacts/import-contacts.handler';

export interface ContactsModuleOptions {
  /** Bound on the contact states the write side remembers (0: it reads every stream). */
  readonly contactStateCacheSize: number;
}

/** Contacts and their interactions: commands, queries and imports. */
@Module({})
export class ContactsModule {
  static register(options: ContactsModuleOptions): DynamicModule {
    return {
      module: ContactsModule,
      controllers: [ContactsController, ContactQueriesController],
      providers: [
        {
          provide: CONTACT_STATES,
          useValue: new ContactStates({ maxWeight: options.contactStateCacheSize }),
        },
        ContactRepository,
        ...CONTACT_COMMAND_HANDLERS,
        ImportContactsHandler,
        ...CONTACT_QUERY_HANDLERS,
      ],
      exports: [ContactRepository],
    };
  }
}
