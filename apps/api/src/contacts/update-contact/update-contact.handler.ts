import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideContact } from '@beecastle/domain';
import { ContactOwners } from '../contact-owners';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { requireSomeField } from '../some-field';
import { UpdateContactCommand } from './update-contact.command';

/** Only the fields that change are recorded; a body that changes nothing appends nothing. */
@CommandHandler(UpdateContactCommand)
export class UpdateContactHandler implements ICommandHandler<UpdateContactCommand> {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly owners: ContactOwners,
  ) {}

  async execute(command: UpdateContactCommand): Promise<ContactWritten> {
    const { context, role, contactId, ifMatch, changes } = command;
    requireSomeField(changes);
    const { version } = await this.contacts.change(
      context,
      contactId,
      ifMatch,
      async (contact, now) => {
        const events = decideContact({ type: 'UpdateContact', changes }, contact.state, {
          actor: context.actor,
          role,
          now,
        });
        await this.owners.requireAssignable(context.organisationId, events);
        return { events, result: undefined };
      },
    );
    return { id: contactId, version };
  }
}
