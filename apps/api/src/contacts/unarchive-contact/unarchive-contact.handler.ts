import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { UnarchiveContactCommand } from './unarchive-contact.command';

/** An active contact stays as it is; a merged one stays archived (409). */
@CommandHandler(UnarchiveContactCommand)
export class UnarchiveContactHandler implements ICommandHandler<UnarchiveContactCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute({
    context,
    role,
    contactId,
    ifMatch,
  }: UnarchiveContactCommand): Promise<ContactWritten> {
    const { version } = await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'UnarchiveContact' }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    return { id: contactId, version };
  }
}
