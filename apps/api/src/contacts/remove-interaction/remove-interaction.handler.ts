import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { RemoveInteractionCommand } from './remove-interaction.command';

/** A removed interaction is gone for good: its id answers 404 from then on. */
@CommandHandler(RemoveInteractionCommand)
export class RemoveInteractionHandler implements ICommandHandler<RemoveInteractionCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute(command: RemoveInteractionCommand): Promise<ContactWritten> {
    const { context, role, contactId, interactionId, ifMatch } = command;
    const { version } = await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'RemoveInteraction', interactionId }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    return { id: interactionId, version };
  }
}
