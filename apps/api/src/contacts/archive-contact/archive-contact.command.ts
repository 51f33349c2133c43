import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

export class ArchiveContactCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    /** Optional here; honoured when given. */
    readonly ifMatch: number | undefined,
  ) {
    super();
  }
}
