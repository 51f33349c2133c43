import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { ArchiveContactCommand } from './archive-contact.command';

/** Reversible (unarchive); archiving an archived contact records nothing and succeeds. */
@CommandHandler(ArchiveContactCommand)
export class ArchiveContactHandler implements ICommandHandler<ArchiveContactCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute({
    context,
    role,
    contactId,
    ifMatch,
  }: ArchiveContactCommand): Promise<ContactWritten> {
    const { version } = await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'ArchiveContact' }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    return { id: contactId, version };
  }
}
