import { randomUUID } from 'node:crypto';
import type { KeySubjectPolicy } from '../encrypting-event-store';
import type { EventMetadata, NewEvent } from '../event-store.port';
import { streamName } from '../stream-name';

/** A stream of a fresh contact in `organisationId`: random ids keep tests apart on a shared log. */
export function newContactStream(organisationId: string): string {
  return streamName('contact', organisationId, randomUUID());
}

/**
 * As the product's (libs/domain dataKeySubject, which this lib may not import): a contact's events
 * under the contact's key, anything else (and a contact's erasure record) under the organisation's.
 */
export const contactSubjectOf: KeySubjectPolicy = (stream, type) =>
  stream.category === 'contact' && type !== 'ContactErased' ? stream.id : stream.organisationId;

export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export interface NewEventOverrides {
  readonly eventId?: string;
  readonly type?: string;
  readonly schemaVersion?: number;
  readonly data?: Uint8Array;
  readonly metadata?: Partial<EventMetadata>;
}

export function newEvent(organisationId: string, overrides: NewEventOverrides = {}): NewEvent {
  return {
    eventId: overrides.eventId ?? randomUUID(),
    type: overrides.type ?? 'ContactNoted',
    schemaVersion: overrides.schemaVersion ?? 1,
    data: overrides.data ?? jsonBytes({ note: randomUUID() }),
    metadata: {
      organisationId,
      actorId: 'user-contract-test',
      actorType: 'user',
      ...overrides.metadata,
    },
  };
}

export function newEvents(
  organisationId: string,
  count: number,
  overrides: Omit<NewEventOverrides, 'eventId'> = {},
): NewEvent[] {
  return Array.from({ length: count }, () => newEvent(organisationId, overrides));
}

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('Expected the promise to reject, but it resolved');
}
