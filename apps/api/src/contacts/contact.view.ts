import {
  evolveContact,
  initialContactState,
  type ContactAddress,
  type ContactEmail,
  type ContactPhone,
  type InteractionFields,
} from '@beecastle/domain';
import type { RecordedEvent } from '@beecastle/event-store';
import { decodeContactEvent } from '@beecastle/read-model';

/**
 * A contact as every read answers it (API.md, "Contacts"): its fields, then the server's.
 * `mergedInto` is there only when the contact was merged into another.
 */
export interface ContactView {
  readonly id: string;
  readonly version: number;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly emails: readonly ContactEmail[];
  readonly phones: readonly ContactPhone[];
  readonly company: string | null;
  readonly jobTitle: string | null;
  readonly address: ContactAddress | null;
  readonly tags: readonly string[];
  readonly notes: string | null;
  readonly ownerUserId: string | null;
  readonly archived: boolean;
  readonly mergedInto?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The actor id of the first and of the latest event. */
  readonly createdBy: string;
  readonly updatedBy: string;
}

/** An interaction as `GET /v1/contacts/{id}/interactions` lists it. */
export interface InteractionView extends InteractionFields {
  readonly id: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly createdBy: string;
  readonly updatedBy: string;
}

/** The `contacts` columns a view needs, for `SELECT ${CONTACT_VIEW_COLUMNS} FROM contacts c`. */
export const CONTACT_VIEW_COLUMNS = `c.contact_id, c.revision::text AS revision, c.first_name,
  c.last_name, c.emails, c.phones, c.company, c.job_title, c.address, c.tags, c.notes,
  c.owner_user_id, c.archived, c.merged_into, c.created_at, c.updated_at, c.created_by,
  c.updated_by`;

export interface ContactViewRow {
  readonly contact_id: string;
  readonly revision: string;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly emails: ContactEmail[];
  readonly phones: ContactPhone[];
  readonly company: string | null;
  readonly job_title: string | null;
  readonly address: ContactAddress | null;
  readonly tags: string[];
  readonly notes: string | null;
  readonly owner_user_id: string | null;
  readonly archived: boolean;
  readonly merged_into: string | null;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly created_by: string;
  readonly updated_by: string;
}

export function contactViewOfRow(row: ContactViewRow): ContactView {
  return {
    id: row.contact_id,
    version: Number(row.revision),
    firstName: row.first_name,
    lastName: row.last_name,
    emails: row.emails,
    phones: row.phones,
    company: row.company,
    jobTitle: row.job_title,
    address: row.address,
    tags: row.tags,
    notes: row.notes,
    ownerUserId: row.owner_user_id,
    archived: row.archived,
    ...(row.merged_into === null ? {} : { mergedInto: row.merged_into }),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

/** The `interactions` columns a view needs, for `SELECT ${…} FROM interactions i`. */
export const INTERACTION_VIEW_COLUMNS = `i.interaction_id, i.type, i.occurred_at, i.subject, i.body,
  i.direction, i.duration_seconds, i.due_at, i.completed, i.created_at, i.updated_at,
  i.created_by, i.updated_by`;

export interface InteractionViewRow {
  readonly interaction_id: string;
  readonly type: InteractionFields['type'];
  readonly occurred_at: Date;
  readonly subject: string | null;
  readonly body: string | null;
  readonly direction: InteractionFields['direction'];
  readonly duration_seconds: number | null;
  readonly due_at: Date | null;
  readonly completed: boolean | null;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly created_by: string;
  readonly updated_by: string;
}

export function interactionViewOfRow(row: InteractionViewRow): InteractionView {
  return {
    id: row.interaction_id,
    type: row.type,
    occurredAt: row.occurred_at.toISOString(),
    subject: row.subject,
    body: row.body,
    direction: row.direction,
    durationSeconds: row.duration_seconds,
    dueAt: row.due_at?.toISOString() ?? null,
    completed: row.completed,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

interface Touched {
  readonly at: string;
  readonly by: string;
}

export interface FoldedContactView {
  readonly contact: ContactView;
  /** Newest first (occurredAt, then id, descending), as the read model lists them. */
  readonly interactions: readonly InteractionView[];
}

/**
 * The same views from the contact's recorded events, for when the read model lags the log (or a
 * past state is asked for). Times and actors are taken as the projection takes them: created by
 * the creating event, updated by the latest event of any kind; an interaction's by its own events.
 * Undefined when the events do not create the contact.
 */
export function foldContactView(recorded: readonly RecordedEvent[]): FoldedContactView | undefined {
  let state = initialContactState;
  let contactTouched: { created: Touched; updated: Touched } | undefined;
  const interactionTouched = new Map<string, { created: Touched; updated: Touched }>();
  for (const record of recorded) {
    if (record.erased) continue; // an erasure follows, and the fold ends with no contact
    const event = decodeContactEvent(record);
    state = evolveContact(state, event);
    if (state.status === 'none') continue; // nothing happens to a contact before it is created
    const now = { at: record.recordedAt.toISOString(), by: record.metadata.actorId };
    contactTouched =
      event.type === 'ContactCreated' || !contactTouched
        ? { created: now, updated: now }
        : { ...contactTouched, updated: now };
    if (event.type === 'InteractionLogged') {
      interactionTouched.set(event.data.interactionId, { created: now, updated: now });
    } else if (event.type === 'InteractionUpdated') {
      const touched = interactionTouched.get(event.data.interactionId);
      if (touched && state.interactions.has(event.data.interactionId))
        interactionTouched.set(event.data.interactionId, { ...touched, updated: now });
    }
  }
  if (state.status === 'none' || !contactTouched) return undefined;
  const { fields } = state;
  const contact: ContactView = {
    id: state.contactId,
    version: Number(recorded[recorded.length - 1].revision),
    ...fields,
    archived: state.status === 'archived',
    ...(state.status === 'archived' && state.mergedInto !== null
      ? { mergedInto: state.mergedInto }
      : {}),
    createdAt: contactTouched.created.at,
    updatedAt: contactTouched.updated.at,
    createdBy: contactTouched.created.by,
    updatedBy: contactTouched.updated.by,
  };
  const interactions = [...state.interactions].flatMap(([id, interaction]) => {
    const touched = interactionTouched.get(id);
    if (!touched) return [];
    return [
      {
        id,
        ...interaction,
        occurredAt: new Date(interaction.occurredAt).toISOString(),
        dueAt: interaction.dueAt === null ? null : new Date(interaction.dueAt).toISOString(),
        createdAt: touched.created.at,
        updatedAt: touched.updated.at,
        createdBy: touched.created.by,
        updatedBy: touched.updated.by,
      },
    ];
  });
  interactions.sort(newestFirst);
  return { contact, interactions };
}

/** occurred_at DESC, interaction_id DESC: ids compared by code unit, as the "C" collation does. */
export function newestFirst(a: InteractionView, b: InteractionView): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? 1 : -1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? 1 : -1;
}
