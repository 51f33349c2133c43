import type { OrganisationEvent, OrganisationEventType } from '@beecastle/domain';
import type { RecordedEvent } from '@beecastle/event-store';

/**
 * How organisation events are stored: their `data` as UTF-8 JSON. The write side encodes with this
 * and both the write side's fold and the `access` projection decode with it, so there is one
 * definition of the stored shape.
 */
export const ORGANISATION_EVENT_TYPES = [
  'OrganisationCreated',
  'OrganisationRenamed',
  'UserAdded',
  'UserRenamed',
  'UserRoleChanged',
  'UserDeactivated',
  'UserReactivated',
  'ApiKeyIssued',
  'ApiKeyRevoked',
] as const satisfies readonly OrganisationEventType[];

// Fails to compile when an event type is added to the domain but not to the list above.
type Missing = Exclude<OrganisationEventType, (typeof ORGANISATION_EVENT_TYPES)[number]>;
const _everyTypeListed: Missing extends never ? true : Missing = true;

export function encodeOrganisationEventData(event: OrganisationEvent): Uint8Array {
  return Buffer.from(JSON.stringify(event.data), 'utf8');
}

export function decodeOrganisationEvent(recorded: RecordedEvent): OrganisationEvent {
  if (!(ORGANISATION_EVENT_TYPES as readonly string[]).includes(recorded.type)) {
    throw new Error(`Not an organisation event: ${recorded.type}`);
  }
  if (recorded.schemaVersion !== 1) {
    throw new Error(`No upcaster to ${recorded.type} v1 from v${recorded.schemaVersion}`);
  }
  const data: unknown = JSON.parse(Buffer.from(recorded.data).toString('utf8'));
  return { type: recorded.type, schemaVersion: 1, data } as OrganisationEvent;
}
