import { Module } from '@nestjs/common';
import { CONTACT_COMMAND_HANDLERS } from './contact-command-handlers';
import { CONTACT_QUERY_HANDLERS } from './contact-query-handlers';
import { ContactQueriesController } from './contact-queries.controller';
import { ContactRepository } from './contact.repository';
import { ContactsController } from './contacts.controller';
import { ImportContactsHandler } from './import-contacts/import-contacts.handler';

/** Contacts and their interactions: commands, queries and imports. */
@Module({
  controllers: [ContactsController, ContactQueriesController],
  providers: [
    ContactRepository,
    ...CONTACT_COMMAND_HANDLERS,
    ImportContactsHandler,
    ...CONTACT_QUERY_HANDLERS,
  ],
  exports: [ContactRepository],
})
export class ContactsModule {}
