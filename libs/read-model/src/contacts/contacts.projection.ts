import {
  CONTACT_EVENT_TYPES,
  evolveContact,
  initialContactState,
  type ContactEvent,
  type ContactFields,
  type ContactState,
  type Interaction,
} from '@beecastle/domain';
import { parseStreamName, type RecordedEvent } from '@beecastle/event-store';
import type { PoolClient } from 'pg';
import type { Projection, ProjectionTransaction } from '../projection';
import { decodeContactEvent } from './contact-event-codec';
import { contactNameKey, contactSearchText } from './contact-search';

export const CONTACTS_PROJECTION = 'contacts';

/**
 * The `contacts` and `interactions` tables, from the contact streams.
 *
 * A batch is applied per organisation in a handful of statements whatever its size: the touched
 * contacts are read in one query, their new events folded in memory with the domain's own
 * `evolveContact` (so the row is what the write side would fold), and the results written back
 * as one upsert per table and one delete.
 *
 * Idempotent by stream revision: the contact's row keeps the last revision of its stream that was
 * applied (interaction events included), and only later events are folded; the upserts also refuse
 * to move a row backwards. The runner redelivers a batch whose commit failed, and replays after a
 * crash, so both paths go through this guard.
 */
export class ContactsProjection implements Projection {
  readonly name = CONTACTS_PROJECTION;
  readonly eventTypes = CONTACT_EVENT_TYPES;

  async apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void> {
    for (const [organisationId, streams] of byOrganisationAndContact(events)) {
      await tx.forOrganisation(organisationId);
      await applyToOrganisation(tx, organisationId, streams);
    }
  }
}

/** Log order is kept within each contact's stream, which is all the fold needs. */
function byOrganisationAndContact(
  events: readonly RecordedEvent[],
): Map<string, Map<string, RecordedEvent[]>> {
  const grouped = new Map<string, Map<string, RecordedEvent[]>>();
  for (const recorded of events) {
    const { category, organisationId, id } = parseStreamName(recorded.streamId);
    if (category !== 'contact') continue;
    let streams = grouped.get(organisationId);
    if (!streams) grouped.set(organisationId, (streams = new Map<string, RecordedEvent[]>()));
    let stream = streams.get(id);
    if (!stream) streams.set(id, (stream = []));
    stream.push(recorded);
  }
  return grouped;
}

/** A `contacts` row as the projection reads and writes it. */
interface ContactRow {
  readonly contact_id: string;
  readonly revision: string;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly emails: ContactFields['emails'];
  readonly phones: ContactFields['phones'];
  readonly company: string | null;
  readonly job_title: string | null;
  readonly address: ContactFields['address'];
  readonly tags: string[];
  readonly notes: string | null;
  readonly owner_user_id: string | null;
  readonly archived: boolean;
  readonly merged_into: string | null;
  readonly name_key: string;
  readonly search_text: string;
  readonly created_at: Date | string;
  readonly updated_at: Date | string;
  readonly created_by: string;
  readonly updated_by: string;
}

/** An `interactions` row as the projection reads and writes it. */
interface InteractionRow {
  readonly contact_id: string;
  readonly interaction_id: string;
  readonly revision: string;
  readonly type: Interaction['type'];
  readonly occurred_at: string;
  readonly subject: string | null;
  readonly body: string | null;
  readonly direction: Interaction['direction'];
  readonly duration_seconds: number | null;
  readonly due_at: string | null;
  readonly completed: boolean | null;
  readonly created_at: Date | string;
  readonly updated_at: Date | string;
  readonly created_by: string;
  readonly updated_by: string;
}

/** What an applied event says about one interaction, in stream order. */
interface InteractionChange {
  readonly contactId: string;
  readonly event: Extract<
    ContactEvent,
    { type: 'InteractionLogged' | 'InteractionUpdated' | 'InteractionRemoved' }
  >;
  readonly revision: string;
  readonly at: string;
  readonly by: string;
}

async function applyToOrganisation(
  tx: ProjectionTransaction,
  organisationId: string,
  streams: ReadonlyMap<string, readonly RecordedEvent[]>,
): Promise<void> {
  const { client } = tx;
  const { rows: current } = await client.query<ContactRow>(
    `SELECT * FROM contacts WHERE org_id = $1 AND contact_id = ANY($2::text[])`,
    [organisationId, [...streams.keys()]],
  );
  const rowsById = new Map(current.map((row) => [row.contact_id, row]));

  const contacts: ContactRow[] = [];
  const interactionChanges: InteractionChange[] = [];
  const erased = new Set<string>();
  for (const [contactId, recorded] of streams) {
    const row = rowsById.get(contactId);
    const applied = row ? BigInt(row.revision) : -1n;
    const fresh = recorded.filter((event) => event.revision > applied);
    if (fresh.length === 0) continue;

    let state = row ? stateOf(row) : initialContactState;
    let meta = row && {
      created_at: row.created_at,
      created_by: row.created_by,
      updated_at: row.updated_at,
      updated_by: row.updated_by,
    };
    for (const recordedEvent of fresh) {
      // Unreadable since an erasure, which comes later in the stream and purges the contact.
      if (recordedEvent.erased) continue;
      const event = decodeContactEvent(recordedEvent);
      state = evolveContact(state, event);
      if (state.status === 'none') continue; // nothing happens to a contact before it is created
      const at = recordedEvent.recordedAt.toISOString();
      const by = recordedEvent.metadata.actorId;
      meta =
        event.type === 'ContactCreated' || !meta
          ? { created_at: at, created_by: by, updated_at: at, updated_by: by }
          : { ...meta, updated_at: at, updated_by: by };
      if (
        event.type === 'InteractionLogged' ||
        event.type === 'InteractionUpdated' ||
        event.type === 'InteractionRemoved'
      ) {
        interactionChanges.push({
          contactId,
          event,
          revision: recordedEvent.revision.toString(),
          at,
          by,
        });
      }
    }
    if (state.status === 'none' && state.erased) {
      erased.add(contactId);
      continue;
    }
    if (state.status === 'none' || !meta) continue;
    const { fields } = state;
    contacts.push({
      contact_id: contactId,
      revision: fresh[fresh.length - 1].revision.toString(),
      first_name: fields.firstName,
      last_name: fields.lastName,
      emails: fields.emails,
      phones: fields.phones,
      company: fields.company,
      job_title: fields.jobTitle,
      address: fields.address,
      tags: [...fields.tags],
      notes: fields.notes,
      owner_user_id: fields.ownerUserId,
      archived: state.status === 'archived',
      merged_into: state.status === 'archived' ? state.mergedInto : null,
      name_key: contactNameKey(fields),
      search_text: contactSearchText(fields),
      ...meta,
    });
  }

  // Its answer is not needed: the commit may follow it without waiting (see defer).
  tx.defer(writeContacts(client, organisationId, contacts));
  await applyInteractionChanges(
    client,
    organisationId,
    interactionChanges.filter((change) => !erased.has(change.contactId)),
  );
  await purgeContacts(client, organisationId, [...erased]);
}

/**
 * Erasure: the contact and its interactions leave the read model. No row remembers them, so a
 * redelivered batch or a rebuild (where the earlier events are unreadable) purges nothing more
 * and writes nothing back.
 */
async function purgeContacts(
  client: PoolClient,
  organisationId: string,
  contactIds: readonly string[],
): Promise<void> {
  if (contactIds.length === 0) return;
  await client.query(
    `DELETE FROM interactions WHERE org_id = $1 AND contact_id = ANY($2::text[])`,
    [organisationId, contactIds],
  );
  await client.query(`DELETE FROM contacts WHERE org_id = $1 AND contact_id = ANY($2::text[])`, [
    organisationId,
    contactIds,
  ]);
}

/** The domain state a row stands for; interactions are the other table's business. */
function stateOf(row: ContactRow): ContactState {
  const data = {
    contactId: row.contact_id,
    fields: {
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
    },
    interactions: new Map<string, Interaction>(),
    removedInteractionIds: new Set<string>(),
    mergedFrom: [],
  };
  return row.archived
    ? { status: 'archived', mergedInto: row.merged_into, ...data }
    : { status: 'active', ...data };
}

const CONTACT_COLUMNS = `contact_id text, revision bigint, first_name text, last_name text,
  emails jsonb, phones jsonb, company text, job_title text, address jsonb, tags text[], notes text,
  owner_user_id text, archived boolean, merged_into text, name_key text, search_text text,
  created_at timestamptz, updated_at timestamptz, created_by text, updated_by text`;

async function writeContacts(
  client: PoolClient,
  organisationId: string,
  rows: readonly ContactRow[],
): Promise<void> {
  if (rows.length === 0) return;
  // One statement for the batch; the revision check keeps a row from ever moving backwards.
  await client.query(
    `INSERT INTO contacts (org_id, contact_id, revision, first_name, last_name, emails, phones,
                           company, job_title, address, tags, notes, owner_user_id, archived,
                           merged_into, name_key, search_text, created_at, updated_at, created_by,
                           updated_by)
     SELECT $1::uuid, r.* FROM jsonb_to_recordset($2::jsonb) AS r(${CONTACT_COLUMNS})
     ON CONFLICT (org_id, contact_id) DO UPDATE SET
       revision = EXCLUDED.revision, first_name = EXCLUDED.first_name,
       last_name = EXCLUDED.last_name, emails = EXCLUDED.emails, phones = EXCLUDED.phones,
       company = EXCLUDED.company, job_title = EXCLUDED.job_title, address = EXCLUDED.address,
       tags = EXCLUDED.tags, notes = EXCLUDED.notes, owner_user_id = EXCLUDED.owner_user_id,
       archived = EXCLUDED.archived, merged_into = EXCLUDED.merged_into,
       name_key = EXCLUDED.name_key, search_text = EXCLUDED.search_text,
       updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
     WHERE contacts.revision < EXCLUDED.revision`,
    [organisationId, JSON.stringify(rows)],
  );
}

const INTERACTION_COLUMNS = `contact_id text, interaction_id text, revision bigint, type text,
  occurred_at timestamptz, subject text, body text, direction text, duration_seconds integer,
  due_at timestamptz, completed boolean, created_at timestamptz, updated_at timestamptz,
  created_by text, updated_by text`;

/**
 * Folds the batch's interaction events onto the rows they touch (read in one query when an event
 * updates an interaction logged before this batch), then writes each touched interaction's final
 * state: one upsert, one delete.
 */
async function applyInteractionChanges(
  client: PoolClient,
  organisationId: string,
  changes: readonly InteractionChange[],
): Promise<void> {
  if (changes.length === 0) return;
  const key = (contactId: string, interactionId: string) => `${contactId}/${interactionId}`;
  // Undefined: not read; null: none (removed, or never logged).
  const touched = new Map<string, InteractionRow | null>();

  const logged = new Set(
    changes
      .filter((c) => c.event.type === 'InteractionLogged')
      .map((c) => key(c.contactId, c.event.data.interactionId)),
  );
  const toRead = changes.filter(
    (c) =>
      c.event.type !== 'InteractionLogged' &&
      !logged.has(key(c.contactId, c.event.data.interactionId)),
  );
  if (toRead.length > 0) {
    const { rows } = await client.query<InteractionRow>(
      `SELECT i.* FROM interactions i
         JOIN unnest($2::text[], $3::text[]) AS k(contact_id, interaction_id)
           ON i.contact_id = k.contact_id AND i.interaction_id = k.interaction_id
        WHERE i.org_id = $1`,
      [
        organisationId,
        toRead.map((c) => c.contactId),
        toRead.map((c) => c.event.data.interactionId),
      ],
    );
    for (const row of rows) touched.set(key(row.contact_id, row.interaction_id), row);
  }

  for (const { contactId, event, revision, at, by } of changes) {
    const { interactionId } = event.data;
    const id = key(contactId, interactionId);
    const current = touched.get(id) ?? null;
    switch (event.type) {
      case 'InteractionLogged': {
        const { data } = event;
        touched.set(id, {
          contact_id: contactId,
          interaction_id: interactionId,
          revision,
          type: data.type,
          occurred_at: data.occurredAt,
          subject: data.subject,
          body: data.body,
          direction: data.direction,
          duration_seconds: data.durationSeconds,
          due_at: data.dueAt,
          completed: data.completed,
          created_at: at,
          updated_at: at,
          created_by: by,
          updated_by: by,
        });
        break;
      }
      case 'InteractionUpdated': {
        if (!current) break; // as evolveContact: an update of no live interaction changes nothing
        const { data } = event;
        touched.set(id, {
          ...current,
          revision,
          ...(data.type !== undefined && { type: data.type }),
          ...(data.occurredAt !== undefined && { occurred_at: data.occurredAt }),
          ...(data.subject !== undefined && { subject: data.subject }),
          ...(data.body !== undefined && { body: data.body }),
          ...(data.direction !== undefined && { direction: data.direction }),
          ...(data.durationSeconds !== undefined && { duration_seconds: data.durationSeconds }),
          ...(data.dueAt !== undefined && { due_at: data.dueAt }),
          ...(data.completed !== undefined && { completed: data.completed }),
          updated_at: at,
          updated_by: by,
        });
        break;
      }
      case 'InteractionRemoved':
        touched.set(id, null);
        break;
    }
  }

  const live: InteractionRow[] = [];
  const removed: { contactId: string; interactionId: string }[] = [];
  for (const [id, row] of touched) {
    if (row) {
      live.push(row);
    } else {
      const [contactId, interactionId] = id.split('/');
      removed.push({ contactId, interactionId });
    }
  }
  if (live.length > 0) {
    await client.query(
      `INSERT INTO interactions (org_id, contact_id, interaction_id, revision, type, occurred_at,
                                 subject, body, direction, duration_seconds, due_at, completed,
                                 created_at, updated_at, created_by, updated_by)
       SELECT $1::uuid, r.* FROM jsonb_to_recordset($2::jsonb) AS r(${INTERACTION_COLUMNS})
       ON CONFLICT (org_id, contact_id, interaction_id) DO UPDATE SET
         revision = EXCLUDED.revision, type = EXCLUDED.type, occurred_at = EXCLUDED.occurred_at,
         subject = EXCLUDED.subject, body = EXCLUDED.body, direction = EXCLUDED.direction,
         duration_seconds = EXCLUDED.duration_seconds, due_at = EXCLUDED.due_at,
         completed = EXCLUDED.completed, updated_at = EXCLUDED.updated_at,
         updated_by = EXCLUDED.updated_by
       WHERE interactions.revision < EXCLUDED.revision`,
      [organisationId, JSON.stringify(live)],
    );
  }
  if (removed.length > 0) {
    await client.query(
      `DELETE FROM interactions i
        USING unnest($2::text[], $3::text[]) AS k(contact_id, interaction_id)
        WHERE i.org_id = $1 AND i.contact_id = k.contact_id AND i.interaction_id = k.interaction_id`,
      [organisationId, removed.map((r) => r.contactId), removed.map((r) => r.interactionId)],
    );
  }
}
