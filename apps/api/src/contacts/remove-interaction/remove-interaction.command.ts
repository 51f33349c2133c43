import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

export class RemoveInteractionCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    readonly interactionId: string,
    readonly ifMatch: number | undefined,
  ) {
    super();
  }
}
