import { CONTACT_STREAM_CATEGORY } from '../contact/contact.events';

/**
 * Whose data key encrypts an event (ARCHITECTURE.md §4): erasing a subject destroys its key, and
 * with it every payload encrypted under it. A contact's own events are the contact's; the record
 * of its erasure, and the events of every other stream (the organisation and its members, the
 * platform), are the organisation's, whose subject id is the organisation's own id.
 */
export function dataKeySubject(
  stream: { readonly category: string; readonly organisationId: string; readonly id: string },
  eventType: string,
): string {
  return stream.category === CONTACT_STREAM_CATEGORY && eventType !== 'ContactErased'
    ? stream.id
    : stream.organisationId;
}
