import { Command } from '@nestjs/cqrs';
import type { InteractionField, InteractionFields, Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

export class UpdateInteractionCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    readonly interactionId: string,
    /** The contact's version the client read (If-Match). */
    readonly ifMatch: number,
    readonly changes: { readonly [K in InteractionField]?: InteractionFields[K] | null },
  ) {
    super();
  }
}
