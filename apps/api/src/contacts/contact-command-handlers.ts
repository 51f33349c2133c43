import type { Provider } from '@nestjs/common';
import { ArchiveContactHandler } from './archive-contact/archive-contact.handler';
import { ContactOwners, MembershipContactOwners } from './contact-owners';
import { CreateContactHandler } from './create-contact/create-contact.handler';
import { EraseContactHandler } from './erase-contact/erase-contact.handler';
import { LogInteractionHandler } from './log-interaction/log-interaction.handler';
import { MergeContactsHandler } from './merge-contacts/merge-contacts.handler';
import { RemoveInteractionHandler } from './remove-interaction/remove-interaction.handler';
import { UnarchiveContactHandler } from './unarchive-contact/unarchive-contact.handler';
import { UpdateContactHandler } from './update-contact/update-contact.handler';
import { UpdateInteractionHandler } from './update-interaction/update-interaction.handler';

/** The contact write side's command handlers, one per use case folder, and what they need. */
export const CONTACT_COMMAND_HANDLERS: Provider[] = [
  { provide: ContactOwners, useClass: MembershipContactOwners },
  CreateContactHandler,
  UpdateContactHandler,
  ArchiveContactHandler,
  UnarchiveContactHandler,
  MergeContactsHandler,
  LogInteractionHandler,
  UpdateInteractionHandler,
  RemoveInteractionHandler,
  EraseContactHandler,
];
