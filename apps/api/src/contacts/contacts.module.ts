import { Module } from '@nestjs/common';
import { CONTACT_COMMAND_HANDLERS } from './contact-command-handlers';
import { ContactRepository } from './contact.repository';
import { ContactsController } from './contacts.controller';

/** Contacts and their interactions: commands, queries and imports. */
@Module({
  controllers: [ContactsController],
  providers: [ContactRepository, ...CONTACT_COMMAND_HANDLERS],
  exports: [ContactRepository],
})
export class ContactsModule {}
