import { Command } from '@nestjs/cqrs';
import type { ContactInput, Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

export class CreateContactCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly fields: ContactInput,
  ) {
    super();
  }
}
