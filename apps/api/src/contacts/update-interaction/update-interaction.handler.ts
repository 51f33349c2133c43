import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { requireSomeField } from '../some-field';
import { UpdateInteractionCommand } from './update-interaction.command';

@CommandHandler(UpdateInteractionCommand)
export class UpdateInteractionHandler implements ICommandHandler<UpdateInteractionCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute(command: UpdateInteractionCommand): Promise<ContactWritten> {
    const { context, role, contactId, interactionId, ifMatch, changes } = command;
    requireSomeField(changes);
    const { version } = await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'UpdateInteraction', interactionId, changes }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    return { id: interactionId, version };
  }
}
