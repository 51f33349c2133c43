import { Command } from '@nestjs/cqrs';
import type { ContactInput, Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

export class UpdateContactCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    /** The version the client read (If-Match): the change applies to that one only. */
    readonly ifMatch: number,
    readonly changes: ContactInput,
  ) {
    super();
  }
}
