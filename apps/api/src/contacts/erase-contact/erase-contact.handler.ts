import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Keyring } from '@beecastle/crypto';
import { decideContact } from '@beecastle/domain';
import { KEYRING } from '../../event-store/event-store.module';
import { ContactRepository } from '../contact.repository';
import { EraseContactCommand } from './erase-contact.command';

/**
 * GDPR erasure by crypto-shredding: records ContactErased (under the organisation's key, so it
 * stays readable), then destroys the contact's data key, after which none of its earlier payloads
 * can be read by anyone, here or in any copy of the log. In that order: a failure in between
 * leaves an erased contact whose key still exists, and a retry (which decides nothing more for an
 * erased contact) destroys it; the other order could leave a contact unreadable yet not erased.
 */
@CommandHandler(EraseContactCommand)
export class EraseContactHandler implements ICommandHandler<EraseContactCommand> {
  constructor(
    private readonly contacts: ContactRepository,
    @Inject(KEYRING) private readonly keys: Pick<Keyring, 'destroy'>,
  ) {}

  async execute({ context, role, contactId, ifMatch }: EraseContactCommand): Promise<void> {
    await this.contacts.change(context, contactId, ifMatch, (contact, now) => ({
      events: decideContact({ type: 'EraseContact' }, contact.state, {
        actor: context.actor,
        role,
        now,
      }),
      result: undefined,
    }));
    await this.keys.destroy(context.organisationId, contactId);
  }
}
