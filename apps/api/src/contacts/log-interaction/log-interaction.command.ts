import { Command } from '@nestjs/cqrs';
import type { InteractionInput, Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

/** Answers the interaction's id and the contact's new version. */
export class LogInteractionCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    readonly ifMatch: number | undefined,
    readonly interaction: InteractionInput,
  ) {
    super();
  }
}
