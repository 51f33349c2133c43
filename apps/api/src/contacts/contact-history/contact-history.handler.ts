import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { contactHistory, DomainError, forbidden } from '@beecastle/domain';
import { decodeContactHistoryEvent } from '@beecastle/read-model';
import { ContactRepository } from '../contact.repository';
import { ContactHistoryQuery, type ContactHistoryItemView } from './contact-history.query';

/**
 * Every change to a contact in log order, from its stream (the log is the history; no read model
 * keeps one): the domain's diff of each event, with who, when and in which request from the
 * event's metadata.
 */
@QueryHandler(ContactHistoryQuery)
export class ContactHistoryHandler implements IQueryHandler<ContactHistoryQuery> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute({
    auth,
    contactId,
  }: ContactHistoryQuery): Promise<{ items: ContactHistoryItemView[] }> {
    if (!auth.permissions.includes('contacts:read')) throw forbidden('contacts:read is needed');
    const { state, events } = await this.contacts.load(auth.organisationId, contactId);
    // An erased contact keeps its history, with the erased values shown as such.
    if (state.status === 'none' && !state.erased)
      throw new DomainError('NOT_FOUND', 'No such contact');
    const history = contactHistory(events.map(decodeContactHistoryEvent));
    return {
      items: events.map((recorded, index) => ({
        version: Number(recorded.revision),
        type: history[index].type,
        at: recorded.recordedAt.toISOString(),
        actor: { id: recorded.metadata.actorId, type: recorded.metadata.actorType },
        requestId: recorded.metadata.requestId ?? null,
        changes: history[index].changes,
      })),
    };
  }
}
