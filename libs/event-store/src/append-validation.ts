import { InvalidEventError, OrganisationMismatchError } from './errors';
import type { NewEvent, StreamAppend } from './event-store.port';
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

/**
 * `validateAppend` for each stream of a multi-stream append, plus what only the whole can break:
 * at least one stream, each named once (two parts for one stream would each be decided on the same
 * revision), and at most MAX_EVENTS_PER_APPEND events in all. Returns each stream's organisation.
 */
export function validateAppends(appends: readonly StreamAppend[]): string[] {
  if (appends.length === 0) throw new InvalidEventError('An append needs at least one stream');
  const streams = new Set<string>();
  const ids = new Set<string>();
  let total = 0;
  const organisationIds = appends.map(({ stream, events }) => {
    if (streams.has(stream)) {
      throw new InvalidEventError(
        `Stream ${stream} is named twice in one append: give it one entry with all its events`,
      );
    }
    streams.add(stream);
    total += events.length;
    if (total > MAX_EVENTS_PER_APPEND) {
      throw new InvalidEventError(`An append takes at most ${MAX_EVENTS_PER_APPEND} events`);
    }
    const organisationId = validateAppend(stream, events);
    for (const event of events) {
      if (ids.has(event.eventId))
        throw new InvalidEventError(`Event id repeated within one append`);
      ids.add(event.eventId);
    }
    return organisationId;
  });
  return organisationIds;
}

/** Metadata bytes as stored: JSON in the key order given. */
export function encodeMetadata(event: NewEvent): Buffer {
  return Buffer.from(JSON.stringify(event.metadata), 'utf8');
}
