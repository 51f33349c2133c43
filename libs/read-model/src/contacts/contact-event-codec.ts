import { CONTACT_EVENT_TYPES, type ContactEvent, type ErasedContactEvent } from '@beecastle/domain';
import type { RecordedEvent } from '@beecastle/event-store';

/**
 * How contact events are stored: their `data` as UTF-8 JSON. The write side encodes with this and
 * its fold, history and the `contacts` projection decode with it, so there is one definition of the
 * stored shape. Encryption happens below, in the event store (EncryptingEventStore): these bytes
 * are the plaintext, and an event whose contact was erased arrives `erased`, with none.
 */
export function encodeContactEventData(event: ContactEvent): Uint8Array {
  return Buffer.from(JSON.stringify(event.data), 'utf8');
}

export function isContactEvent(recorded: RecordedEvent): boolean {
  return (CONTACT_EVENT_TYPES as readonly string[]).includes(recorded.type);
}

/** A readable contact event's payload. An erased one has none: see `decodeContactHistoryEvent`. */
export function decodeContactEvent(recorded: RecordedEvent): ContactEvent {
  if (!isContactEvent(recorded)) throw new Error(`Not a contact event: ${recorded.type}`);
  if (recorded.erased) throw new Error(`Event ${recorded.eventId} was erased: it has no payload`);
  if (recorded.schemaVersion !== 1) {
    throw new Error(`No upcaster to ${recorded.type} v1 from v${recorded.schemaVersion}`);
  }
  return decodeContactEventData(recorded.type as ContactEvent['type'], recorded.data);
}

/** A current-version event as a reader of the log gets it back from its stored `data`. */
export function decodeContactEventData(type: ContactEvent['type'], data: Uint8Array): ContactEvent {
  const decoded: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
  return { type, schemaVersion: 1, data: decoded } as ContactEvent;
}

/**
 * The events a fold can use: those still readable. After an erasure that is the erasure itself
 * (and whatever came after it), which folds to "no contact".
 */
export function readableContactEvents(recorded: readonly RecordedEvent[]): ContactEvent[] {
  return recorded.filter((event) => !event.erased).map(decodeContactEvent);
}

/** For history, which keeps an item for every event: an erased one as its type alone. */
export function decodeContactHistoryEvent(
  recorded: RecordedEvent,
): ContactEvent | ErasedContactEvent {
  if (!recorded.erased) return decodeContactEvent(recorded);
  if (!isContactEvent(recorded)) throw new Error(`Not a contact event: ${recorded.type}`);
  return { type: recorded.type as ContactEvent['type'], erased: true };
}
