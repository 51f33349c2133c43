import { randomUUID } from 'node:crypto';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { LogInteractionCommand } from './log-interaction.command';

/** An interaction lives in its contact's stream: an archived contact takes none (409). */
@CommandHandler(LogInteractionCommand)
export class LogInteractionHandler implements ICommandHandler<LogInteractionCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute(command: LogInteractionCommand): Promise<ContactWritten> {
    const { context, role, contactId, ifMatch, interaction } = command;
    const interactionId = randomUUID();
    const { version } = await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'LogInteraction', interactionId, interaction }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    return { id: interactionId, version };
  }
}
