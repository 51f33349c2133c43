import { Module } from '@nestjs/common';
import { CONTACT_COMMAND_HANDLERS } from './contact-command-handlers';
import { ContactsController } from './contacts.controller';

/** Contacts and their interactions: commands, queries and imports. */
@Module({
  controllers: [ContactsController],
  providers: [...CONTACT_COMMAND_HANDLERS],
})
export class ContactsModule {}
