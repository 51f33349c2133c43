import { CONTACT_EVENT_TYPES, type ContactEvent } from '@beecastle/domain';
import type { RecordedEvent } from '@beecastle/event-store';

/**
 * How contact events are stored: their `data` as UTF-8 JSON. The write side encodes with this and
 * its fold, history and the `contacts` projection decode with it, so there is one definition of the
 * stored shape, and one place to change when payloads are encrypted.
 */
export function encodeContactEventData(event: ContactEvent): Uint8Array {
  return Buffer.from(JSON.stringify(event.data), 'utf8');
}

export function isContactEvent(recorded: RecordedEvent): boolean {
  return (CONTACT_EVENT_TYPES as readonly string[]).includes(recorded.type);
}

export function decodeContactEvent(recorded: RecordedEvent): ContactEvent {
  if (!isContactEvent(recorded)) throw new Error(`Not a contact event: ${recorded.type}`);
  if (recorded.schemaVersion !== 1) {
    throw new Error(`No upcaster to ${recorded.type} v1 from v${recorded.schemaVersion}`);
  }
  const data: unknown = JSON.parse(Buffer.from(recorded.data).toString('utf8'));
  return { type: recorded.type, schemaVersion: 1, data } as ContactEvent;
}
