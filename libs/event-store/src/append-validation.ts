import { InvalidEventError, OrganisationMismatchError } from './errors';
import type { NewEvent } from './event-store.port';
import { parseStreamName } from './stream-name';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
export const MAX_EVENTS_PER_APPEND = 1000;

/**
 * Checks shared by every adapter, before any I/O: the stream names an organisation, every event's
 * metadata names the same one, and ids, types and versions are well formed.
 */
export function validateAppend(stream: string, events: readonly NewEvent[]): string {
  const { organisationId } = parseStreamName(stream);
  if (events.length === 0) throw new InvalidEventError('An append needs at least one event');
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new InvalidEventError(`An append takes at most ${MAX_EVENTS_PER_APPEND} events`);
  }
  const ids = new Set<string>();
  for (const event of events) {
    if (!UUID.test(event.eventId)) throw new InvalidEventError(`Event id is not a lowercase UUID`);
    if (ids.has(event.eventId)) throw new InvalidEventError(`Event id repeated within one append`);
    ids.add(event.eventId);
    if (!EVENT_TYPE.test(event.type)) throw new InvalidEventError(`Invalid event type`);
    if (
      !Number.isInteger(event.schemaVersion) ||
      event.schemaVersion < 1 ||
      event.schemaVersion > 32767
    ) {
      throw new InvalidEventError(`Invalid schema version for ${event.type}`);
    }
    if (!(event.data instanceof Uint8Array))
      throw new InvalidEventError('Event data must be bytes');
    if (event.metadata.organisationId !== organisationId) {
      throw new OrganisationMismatchError(stream, event.metadata.organisationId);
    }
    if (!event.metadata.actorId || !event.metadata.actorType) {
      throw new InvalidEventError('Every event names its actor');
    }
  }
  return organisationId;
}

/** Metadata bytes as stored: JSON in the key order given. */
export function encodeMetadata(event: NewEvent): Buffer {
  return Buffer.from(JSON.stringify(event.metadata), 'utf8');
}
