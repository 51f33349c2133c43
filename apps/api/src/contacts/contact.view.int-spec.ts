import { randomUUID } from 'node:crypto';
import type { ContactEvent } from '@beecastle/domain';
import { withOrganisation } from '@beecastle/database';
import { PostgresEventStore, streamName, type AppendResult } from '@beecastle/event-store';
import {
  CheckpointWait,
  CONTACTS_PROJECTION,
  ContactsProjection,
  encodeContactEventData,
  ProjectionRunner,
} from '@beecastle/read-model';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../libs/database/src/testing/test-database';
import {
  CONTACT_VIEW_COLUMNS,
  contactViewOfRow,
  foldContactView,
  INTERACTION_VIEW_COLUMNS,
  interactionViewOfRow,
  type ContactViewRow,
  type InteractionViewRow,
} from './contact.view';

const created = (contactId: string, firstName: string): ContactEvent => ({
  type: 'ContactCreated',
  schemaVersion: 1,
  data: {
    contactId,
    firstName,
    lastName: null,
    emails: [{ address: `${contactId}@example.com`, label: 'work' }],
    phones: [],
    company: null,
    jobTitle: null,
    address: null,
    tags: ['a'],
    notes: null,
    ownerUserId: null,
  },
});

const note = (interactionId: string, occurredAt: string): ContactEvent => ({
  type: 'InteractionLogged',
  schemaVersion: 1,
  data: {
    interactionId,
    type: 'task',
    occurredAt,
    subject: interactionId,
    body: null,
    direction: null,
    durationSeconds: null,
    dueAt: '2025-02-01T00:00:00.000Z',
    completed: false,
  },
});

/** Every event type, interactions updated and removed, an update of a removed one (a no-op). */
const targetHistory: ContactEvent[] = [
  created('target', 'Ada'),
  {
    type: 'ContactUpdated',
    schemaVersion: 1,
    data: { lastName: 'Lovelace', address: { ...emptyAddress(), city: 'London' } },
  },
  note('i-1', '2025-01-02T10:00:00.000Z'),
  note('i-2', '2025-01-02T10:00:00.000Z'),
  note('i-3', '2025-01-01T10:00:00.000Z'),
  { type: 'InteractionUpdated', schemaVersion: 1, data: { interactionId: 'i-1', completed: true } },
  { type: 'InteractionRemoved', schemaVersion: 1, data: { interactionId: 'i-2' } },
  { type: 'InteractionUpdated', schemaVersion: 1, data: { interactionId: 'i-2', subject: 'x' } },
  { type: 'ContactArchived', schemaVersion: 1, data: {} },
  { type: 'ContactUnarchived', schemaVersion: 1, data: {} },
  {
    type: 'ContactMergeReceived',
    schemaVersion: 1,
    data: { sourceId: 'source', takenOver: { tags: ['b'], jobTitle: 'Countess' } },
  },
  {
    type: 'InteractionUpdated',
    schemaVersion: 1,
    data: { interactionId: 'i-3', occurredAt: '2025-01-03T00:00:00.000Z' },
  },
];

const sourceHistory: ContactEvent[] = [
  created('source', 'Augusta'),
  { type: 'ContactMerged', schemaVersion: 1, data: { targetId: 'target' } },
];

function emptyAddress() {
  return { line1: null, line2: null, city: null, region: null, postalCode: null, country: null };
}

describe('contact views: from the fold as from the read model (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let runner: ProjectionRunner;
  const org = randomUUID();

  /** One event per append, each by its own actor, so that every who and when can differ. */
  const append = async (contactId: string, events: readonly ContactEvent[]) => {
    let last: AppendResult | undefined;
    for (const [index, event] of events.entries()) {
      last = await store.appendToStream(
        streamName('contact', org, contactId),
        [
          {
            eventId: randomUUID(),
            type: event.type,
            schemaVersion: event.schemaVersion,
            data: encodeContactEventData(event),
            metadata: { organisationId: org, actorId: `${contactId}-${index}`, actorType: 'user' },
          },
        ],
        { expectedRevision: index === 0 ? 'no_stream' : BigInt(index - 1) },
      );
    }
    return last as AppendResult;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app, { listenConnectionString: db.appUrl });
    runner = new ProjectionRunner(new ContactsProjection(), {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
    });
    runner.start();
  });

  afterAll(async () => {
    await runner.stop();
    await store.close();
    await db.drop();
  });

  it('renders the same contact and interactions from the stream as from the projected rows', async () => {
    await append('source', sourceHistory);
    const last = await append('target', targetHistory);
    await new CheckpointWait(db.app).until(CONTACTS_PROJECTION, last.position);

    for (const contactId of ['target', 'source']) {
      const events = await store.readStream(streamName('contact', org, contactId));
      const folded = foldContactView(events);
      const { contact, interactions } = await withOrganisation(db.app, org, async (client) => ({
        contact: (
          await client.query<ContactViewRow>(
            `SELECT ${CONTACT_VIEW_COLUMNS} FROM contacts c WHERE contact_id = $1`,
            [contactId],
          )
        ).rows.map(contactViewOfRow),
        interactions: (
          await client.query<InteractionViewRow>(
            `SELECT ${INTERACTION_VIEW_COLUMNS} FROM interactions i WHERE contact_id = $1
              ORDER BY occurred_at DESC, interaction_id DESC`,
            [contactId],
          )
        ).rows.map(interactionViewOfRow),
      }));
      expect(folded).toEqual({ contact: contact[0], interactions });
    }

    // Spelled out, so that a fold and a view wrong in the same way still fail here.
    const target = foldContactView(await store.readStream(streamName('contact', org, 'target')));
    expect(target?.contact).toMatchObject({
      id: 'target',
      version: targetHistory.length - 1,
      lastName: 'Lovelace',
      jobTitle: 'Countess',
      tags: ['a', 'b'],
      archived: false,
      createdBy: 'target-0',
      updatedBy: `target-${targetHistory.length - 1}`,
    });
    expect(target?.contact).not.toHaveProperty('mergedInto');
    expect(target?.interactions.map((i) => [i.id, i.createdBy, i.updatedBy])).toEqual([
      ['i-3', 'target-4', 'target-11'],
      ['i-1', 'target-2', 'target-5'],
    ]);
    const source = foldContactView(await store.readStream(streamName('contact', org, 'source')));
    expect(source?.contact).toMatchObject({ archived: true, mergedInto: 'target', version: 1 });
  });

  it('is nothing until the contact is created', () => {
    expect(foldContactView([])).toBeUndefined();
  });
});
