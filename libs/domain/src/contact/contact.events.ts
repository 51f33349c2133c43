/**
 * What happens to a contact, in its stream `contact-<orgId>.<contactId>`. The `type` strings are
 * stored forever: never rename one; change a shape by adding a schema version and an upcaster.
 *
 * Events carry new values only. Before/after pairs for history are computed by folding (see
 * contact-history.ts), which keeps one copy of each personal value in the log, not two, and lets
 * erasure shred it with the contact's data key. Who acted and when is in the event's metadata, not
 * here.
 */

export const CONTACT_STREAM_CATEGORY = 'contact';

export interface ContactEmail {
  readonly address: string;
  /** Absent rather than null or empty, so equal entries compare equal. */
  readonly label?: string;
}

export interface ContactPhone {
  /** E.164, normalised by the API. */
  readonly number: string;
  readonly label?: string;
}

export interface ContactAddress {
  readonly line1: string | null;
  readonly line2: string | null;
  readonly city: string | null;
  readonly region: string | null;
  readonly postalCode: string | null;
  readonly country: string | null;
}

export const ADDRESS_PARTS = ['line1', 'line2', 'city', 'region', 'postalCode', 'country'] as const;

/** A contact's own fields (API.md, "Contacts"); null or an empty list means "none". */
export interface ContactFields {
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly emails: readonly ContactEmail[];
  readonly phones: readonly ContactPhone[];
  readonly company: string | null;
  readonly jobTitle: string | null;
  /** Null when no part is set; never an address whose parts are all null. */
  readonly address: ContactAddress | null;
  readonly tags: readonly string[];
  readonly notes: string | null;
  readonly ownerUserId: string | null;
}

export type ContactField = keyof ContactFields;

/** In API.md's order, which is also the order of history changes. */
export const CONTACT_FIELDS = [
  'firstName',
  'lastName',
  'emails',
  'phones',
  'company',
  'jobTitle',
  'address',
  'tags',
  'notes',
  'ownerUserId',
] as const satisfies readonly ContactField[];

/** Only the fields that changed, each with its whole new value (a list or an address as a unit). */
export type ContactChanges = Partial<ContactFields>;

/**
 * What a merge target took over from its source, recorded as values so that replaying the target's
 * stream never needs the source's: list entries the target lacked (appended after its own), and
 * values for fields the target had empty.
 */
export type MergeTakeover = Partial<ContactFields>;

export const INTERACTION_TYPES = ['call', 'email', 'meeting', 'note', 'task'] as const;
export type InteractionType = (typeof INTERACTION_TYPES)[number];

export const INTERACTION_DIRECTIONS = ['inbound', 'outbound'] as const;
export type InteractionDirection = (typeof INTERACTION_DIRECTIONS)[number];

export interface InteractionFields {
  readonly type: InteractionType;
  /** ISO-8601 instant in UTC (`toISOString()` form). */
  readonly occurredAt: string;
  readonly subject: string | null;
  readonly body: string | null;
  readonly direction: InteractionDirection | null;
  readonly durationSeconds: number | null;
  /** Tasks only; null on every other type. */
  readonly dueAt: string | null;
  /** Tasks only (false until done); null on every other type. */
  readonly completed: boolean | null;
}

export type InteractionField = keyof InteractionFields;

export const INTERACTION_FIELDS = [
  'type',
  'occurredAt',
  'subject',
  'body',
  'direction',
  'durationSeconds',
  'dueAt',
  'completed',
] as const satisfies readonly InteractionField[];

export type InteractionChanges = Partial<InteractionFields>;

export type ContactEvent =
  | {
      readonly type: 'ContactCreated';
      readonly schemaVersion: 1;
      readonly data: { readonly contactId: string } & ContactFields;
    }
  | {
      readonly type: 'ContactUpdated';
      readonly schemaVersion: 1;
      /** At least one field. */
      readonly data: ContactChanges;
    }
  | {
      readonly type: 'ContactArchived';
      readonly schemaVersion: 1;
      readonly data: Record<string, never>;
    }
  | {
      readonly type: 'ContactUnarchived';
      readonly schemaVersion: 1;
      readonly data: Record<string, never>;
    }
  | {
      /** On the source: archived for good, as merged into the target. */
      readonly type: 'ContactMerged';
      readonly schemaVersion: 1;
      readonly data: { readonly targetId: string };
    }
  | {
      /**
       * On the target: what it took over from the source, explicitly. Those values are the
       * target's from then on (erasing the source later does not reach them).
       */
      readonly type: 'ContactMergeReceived';
      readonly schemaVersion: 1;
      readonly data: { readonly sourceId: string; readonly takenOver: MergeTakeover };
    }
  | {
      readonly type: 'InteractionLogged';
      readonly schemaVersion: 1;
      readonly data: { readonly interactionId: string } & InteractionFields;
    }
  | {
      readonly type: 'InteractionUpdated';
      readonly schemaVersion: 1;
      /** The interaction's id and at least one changed field, with its new value. */
      readonly data: { readonly interactionId: string } & InteractionChanges;
    }
  | {
      readonly type: 'InteractionRemoved';
      readonly schemaVersion: 1;
      readonly data: { readonly interactionId: string };
    }
  | {
      /**
       * GDPR erasure: the contact's data key is destroyed after this is appended, so every earlier
       * payload of the stream becomes unreadable for good. Holds nothing personal, and is itself
       * encrypted with the organisation's key (see `dataKeySubject`), so it stays readable.
       */
      readonly type: 'ContactErased';
      readonly schemaVersion: 1;
      readonly data: Record<string, never>;
    };

export type ContactEventType = ContactEvent['type'];

/**
 * An event whose payload can no longer be read because the contact was erased: its type, and the
 * envelope's who and when, are all that is left of it.
 */
export interface ErasedContactEvent {
  readonly type: ContactEventType;
  readonly erased: true;
}

/** Every contact event type, for subscription filters; the check below keeps it complete. */
export const CONTACT_EVENT_TYPES = [
  'ContactCreated',
  'ContactUpdated',
  'ContactArchived',
  'ContactUnarchived',
  'ContactMerged',
  'ContactMergeReceived',
  'InteractionLogged',
  'InteractionUpdated',
  'InteractionRemoved',
  'ContactErased',
] as const satisfies readonly ContactEventType[];

type MissingContactEventType = Exclude<ContactEventType, (typeof CONTACT_EVENT_TYPES)[number]>;
const _everyContactEventTypeListed: [MissingContactEventType] extends [never] ? true : never = true;
