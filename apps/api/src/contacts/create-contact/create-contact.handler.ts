import { randomUUID } from 'node:crypto';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import { ContactOwners } from '../contact-owners';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { requireSomeField } from '../some-field';
import { CreateContactCommand } from './create-contact.command';

@CommandHandler(CreateContactCommand)
export class CreateContactHandler implements ICommandHandler<CreateContactCommand> {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly owners: ContactOwners,
  ) {}

  async execute({ context, role, fields }: CreateContactCommand): Promise<ContactWritten> {
    requireSomeField(fields);
    // The server names the contact: ids are never the client's to choose or guess.
    const contactId = randomUUID();
    // A new id has no stream to read: the repository appends with `no_stream` at once.
    const { version } = await this.contacts.create(context, contactId, async (contact, now) => {
      const events = decideContact({ type: 'CreateContact', contactId, fields }, contact.state, {
        actor: context.actor,
        role,
        now,
      });
      await this.owners.requireAssignable(context.organisationId, events);
      return { events, result: undefined };
    });
    return { id: contactId, version };
  }
}
