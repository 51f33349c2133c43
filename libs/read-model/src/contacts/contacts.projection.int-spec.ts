import { randomUUID } from 'node:crypto';
import {
  foldContact,
  type ContactEvent,
  type ContactFields,
  type ContactState,
  type Interaction,
} from '@beecastle/domain';
import { withOrganisation } from '@beecastle/database';
import {
  PostgresEventStore,
  streamName,
  type AppendResult,
  type RecordedEvent,
} from '@beecastle/event-store';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { CheckpointWait } from '../checkpoint-wait';
import { ProjectionRunner } from '../projection-runner';
import { encodeContactEventData } from './contact-event-codec';
import { searchPattern } from './contact-search';
import { CONTACTS_PROJECTION, ContactsProjection } from './contacts.projection';

type Row = Record<string, unknown>;

/** A contact's life touching every event type, and the actor of each event. */
function targetHistory(sourceId: string): ContactEvent[] {
  return [
    {
      type: 'ContactCreated',
      schemaVersion: 1,
      data: {
        contactId: 'target',
        firstName: 'José',
        lastName: 'Lovelace',
        emails: [{ address: 'ada@example.com', label: 'work' }],
        phones: [{ number: '+441234567890' }],
        company: 'Analytical Engines',
        jobTitle: null,
        address: {
          line1: '1 Main St',
          line2: null,
          city: 'London',
          region: null,
          postalCode: 'N1',
          country: 'GB',
        },
        tags: ['vip'],
        notes: 'First line\nsecond line',
        ownerUserId: null,
      },
    },
    {
      type: 'ContactUpdated',
      schemaVersion: 1,
      data: {
        firstName: 'Ada',
        emails: [{ address: 'countess@example.org' }, { address: 'ada@example.com' }],
        tags: ['vip', 'math'],
        ownerUserId: 'owner-1',
      },
    },
    {
      type: 'InteractionLogged',
      schemaVersion: 1,
      data: {
        interactionId: 'call-1',
        type: 'call',
        occurredAt: '2025-01-02T10:00:00.000Z',
        subject: 'Intro',
        body: null,
        direction: 'outbound',
        durationSeconds: 300,
        dueAt: null,
        completed: null,
      },
    },
    {
      type: 'InteractionLogged',
      schemaVersion: 1,
      data: {
        interactionId: 'task-1',
        type: 'task',
        occurredAt: '2025-01-03T09:00:00.000Z',
        subject: 'Send notes',
        body: 'The engine',
        direction: null,
        durationSeconds: null,
        dueAt: '2025-01-10T09:00:00.000Z',
        completed: false,
      },
    },
    {
      type: 'InteractionLogged',
      schemaVersion: 1,
      data: {
        interactionId: 'note-1',
        type: 'note',
        occurredAt: '2025-01-01T08:00:00.000Z',
        subject: null,
        body: 'Met at a ball',
        direction: null,
        durationSeconds: null,
        dueAt: null,
        completed: null,
      },
    },
    {
      type: 'InteractionUpdated',
      schemaVersion: 1,
      data: { interactionId: 'task-1', completed: true, subject: 'Sent notes' },
    },
    { type: 'InteractionRemoved', schemaVersion: 1, data: { interactionId: 'call-1' } },
    { type: 'ContactArchived', schemaVersion: 1, data: {} },
    { type: 'ContactUnarchived', schemaVersion: 1, data: {} },
    {
      type: 'ContactMergeReceived',
      schemaVersion: 1,
      data: {
        sourceId,
        takenOver: {
          emails: [{ address: 'byron@example.net', label: 'home' }],
          tags: ['poet'],
          jobTitle: 'Mathematician',
        },
      },
    },
    {
      type: 'InteractionUpdated',
      schemaVersion: 1,
      data: { interactionId: 'note-1', occurredAt: '2025-01-04T08:00:00.000Z' },
    },
  ];
}

function sourceHistory(sourceId: string, targetId: string): ContactEvent[] {
  return [
    {
      type: 'ContactCreated',
      schemaVersion: 1,
      data: {
        contactId: sourceId,
        firstName: 'Augusta',
        lastName: 'Byron',
        emails: [{ address: 'byron@example.net', label: 'home' }],
        phones: [],
        company: null,
        jobTitle: 'Mathematician',
        address: null,
        tags: ['poet'],
        notes: null,
        ownerUserId: null,
      },
    },
    { type: 'ContactUpdated', schemaVersion: 1, data: { company: 'Byron & Co' } },
    { type: 'ContactMerged', schemaVersion: 1, data: { targetId } },
  ];
}

const iso = (value: unknown) => (value === null ? null : (value as Date).toISOString());

/** The row's fields in the domain's shape, for a field-by-field comparison with the fold. */
function fieldsOf(row: Row): ContactFields {
  return {
    firstName: row.first_name as string | null,
    lastName: row.last_name as string | null,
    emails: row.emails as ContactFields['emails'],
    phones: row.phones as ContactFields['phones'],
    company: row.company as string | null,
    jobTitle: row.job_title as string | null,
    address: row.address as ContactFields['address'],
    tags: row.tags as string[],
    notes: row.notes as string | null,
    ownerUserId: row.owner_user_id as string | null,
  };
}

function interactionOf(row: Row): Interaction {
  return {
    type: row.type as Interaction['type'],
    occurredAt: iso(row.occurred_at) as string,
    subject: row.subject as string | null,
    body: row.body as string | null,
    direction: row.direction as Interaction['direction'],
    durationSeconds: row.duration_seconds as number | null,
    dueAt: iso(row.due_at),
    completed: row.completed as boolean | null,
  };
}

describe('contacts projection (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let runner: ProjectionRunner | undefined;
  const projection = new ContactsProjection();

  /** Appends one event per call, so that each has its own actor. */
  const append = async (
    org: string,
    contactId: string,
    events: readonly ContactEvent[],
    actorOf: (index: number) => string = () => 'user-1',
  ): Promise<AppendResult> => {
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
            metadata: { organisationId: org, actorId: actorOf(index), actorType: 'user' },
          },
        ],
        { expectedRevision: index === 0 ? 'no_stream' : BigInt(index - 1) },
      );
    }
    if (!last) throw new Error('Nothing appended');
    return last;
  };

  const project = async (last: AppendResult) => {
    if (!runner) {
      runner = new ProjectionRunner(projection, {
        pool: db.app,
        store,
        lockConnectionString: db.appUrl,
        standbyRetryMs: 50,
      });
      runner.start();
    }
    await new CheckpointWait(db.app).until(CONTACTS_PROJECTION, last.position);
  };

  const recorded = (org: string, contactId: string): Promise<RecordedEvent[]> =>
    store.readStream(streamName('contact', org, contactId));

  /** Everything the read model holds for one organisation, as the application role sees it. */
  const snapshot = (org: string) =>
    withOrganisation(db.app, org, async (client) => ({
      contacts: (await client.query<Row>('SELECT * FROM contacts ORDER BY contact_id')).rows,
      interactions: (
        await client.query<Row>('SELECT * FROM interactions ORDER BY contact_id, interaction_id')
      ).rows,
    }));

  /** Delivers events to the projection in a transaction of its own, as the runner would. */
  const deliver = async (events: readonly RecordedEvent[]) => {
    const client = await db.app.connect();
    try {
      await client.query('BEGIN');
      const deferred: Promise<unknown>[] = [];
      await projection.apply(events, {
        client,
        forOrganisation: async (org) => {
          await client.query(`SELECT set_config('app.org_id', $1, true)`, [org]);
        },
        defer: (write) => void deferred.push(write),
      });
      await Promise.all(deferred);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };

  /**
   * The plan of a query when `index` is the only index of its table (the others dropped in a
   * transaction that is rolled back): on a test's handful of rows the planner would take any index
   * on org_id, but what matters is that this one can answer the query, in order.
   */
  const planWithOnly = async (org: string, table: string, index: string, query: string) => {
    const client = await db.owner.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('app.org_id', $1, true)`, [org]);
      const { rows } = await client.query<{ name: string; constraint: boolean }>(
        `SELECT c.relname AS name, EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
                AS constraint
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1::regclass AND c.relname <> $2`,
        [table, index],
      );
      for (const other of rows) {
        await client.query(
          other.constraint
            ? `ALTER TABLE ${table} DROP CONSTRAINT ${other.name}`
            : `DROP INDEX ${other.name}`,
        );
      }
      await client.query('SET LOCAL enable_seqscan = off');
      const plan = await client.query(`EXPLAIN (FORMAT JSON) ${query}`);
      return JSON.stringify(plan.rows);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };

  /** An organisation with a merged pair (`source` into `target`), projected. */
  const mergedPair = async () => {
    const org = randomUUID();
    await append(org, 'source', sourceHistory('source', 'target'), (i) => `source-actor-${i}`);
    const last = await append(org, 'target', targetHistory('source'), (i) => `target-actor-${i}`);
    await project(last);
    return org;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app, { listenConnectionString: db.appUrl });
  });

  afterAll(async () => {
    await runner?.stop();
    await store.close();
    await db.drop();
  });

  it('folds a whole history to the row the domain’s fold gives, field by field', async () => {
    const org = await mergedPair();
    const { contacts, interactions } = await snapshot(org);
    const byId = new Map(contacts.map((row) => [row.contact_id, row]));

    for (const [id, history] of [
      ['target', targetHistory('source')],
      ['source', sourceHistory('source', 'target')],
    ] as const) {
      const state = foldContact(history) as Exclude<ContactState, { status: 'none' }>;
      const row = byId.get(id) as Row;
      const fields = fieldsOf(row);
      for (const key of Object.keys(state.fields) as (keyof ContactFields)[]) {
        expect({ id, key, value: fields[key] }).toEqual({ id, key, value: state.fields[key] });
      }
      expect(row.archived).toBe(state.status === 'archived');
      expect(row.merged_into).toBe(state.status === 'archived' ? state.mergedInto : null);
      expect(row.revision).toBe(String(history.length - 1));

      const events = await recorded(org, id);
      expect(row).toMatchObject({
        created_at: events[0].recordedAt,
        created_by: `${id}-actor-0`,
        updated_at: events[events.length - 1].recordedAt,
        updated_by: `${id}-actor-${history.length - 1}`,
      });
      const own = interactions.filter((i) => i.contact_id === id);
      expect(new Map(own.map((i) => [i.interaction_id, interactionOf(i)]))).toEqual(
        state.interactions,
      );
    }
    // Spelled out, so that a fold and a projection wrong in the same way still fail here.
    expect(byId.get('source')).toMatchObject({ archived: true, merged_into: 'target' });
    expect(byId.get('target')).toMatchObject({
      archived: false,
      merged_into: null,
      job_title: 'Mathematician',
      tags: ['vip', 'math', 'poet'],
    });
    const task = interactions.find((i) => i.interaction_id === 'task-1') as Row;
    expect(task).toMatchObject({ completed: true, subject: 'Sent notes', revision: '5' });
    expect(task.created_by).toBe('target-actor-3');
    expect(task.updated_by).toBe('target-actor-5');
    expect(interactions.map((i) => i.interaction_id).sort()).toEqual(['note-1', 'task-1']);
  });

  it('changes nothing when events are delivered again, whole or in part', async () => {
    const org = await mergedPair();
    const before = await snapshot(org);
    const target = await recorded(org, 'target');
    const source = await recorded(org, 'source');

    await deliver([...source, ...target]);
    expect(await snapshot(org)).toEqual(before);
    // An old part alone (the interaction logged here was removed later).
    await deliver(target.slice(0, 3));
    expect(await snapshot(org)).toEqual(before);
    for (const event of [...target].reverse()) {
      await deliver([event]);
      expect({ event: event.revision, rows: await snapshot(org) }).toEqual({
        event: event.revision,
        rows: before,
      });
    }
  });

  it('gives the same rows one event per batch as the whole history in one', async () => {
    const org = await mergedPair();
    const before = await snapshot(org);
    await withOrganisation(db.app, org, async (client) => {
      await client.query('DELETE FROM interactions');
      await client.query('DELETE FROM contacts');
    });
    expect((await snapshot(org)).contacts).toEqual([]);

    for (const event of await recorded(org, 'source')) await deliver([event]);
    for (const event of await recorded(org, 'target')) await deliver([event]);

    expect(await snapshot(org)).toEqual(before);
  });

  it('purges an erased contact and its interactions, and a replay writes nothing back', async () => {
    const org = await mergedPair();
    const erasure: ContactEvent = { type: 'ContactErased', schemaVersion: 1, data: {} };
    const history = targetHistory('source');
    const before = await snapshot(org);
    expect(before.interactions.filter((i) => i.contact_id === 'target')).not.toEqual([]);
    const last = await store.appendToStream(
      streamName('contact', org, 'target'),
      [
        {
          eventId: randomUUID(),
          type: erasure.type,
          schemaVersion: 1,
          data: encodeContactEventData(erasure),
          metadata: { organisationId: org, actorId: 'admin-1', actorType: 'user' },
        },
      ],
      { expectedRevision: BigInt(history.length - 1) },
    );
    await project(last);
    const after = await snapshot(org);
    expect(after.contacts.map((row) => row.contact_id)).toEqual(['source']);
    expect(after.interactions.filter((i) => i.contact_id === 'target')).toEqual([]);
    expect(after.interactions).toEqual(
      before.interactions.filter((i) => i.contact_id !== 'target'),
    );

    // Again, as a rebuild sees it once the key is destroyed (every payload before the erasure
    // unreadable), and as one before that (all readable): the contact stays purged.
    const target = await recorded(org, 'target');
    const unreadable = target.map((event) =>
      event.type === 'ContactErased'
        ? event
        : { ...event, data: new Uint8Array(0), erased: true as const },
    );
    await deliver(unreadable);
    expect(await snapshot(org)).toEqual(after);
    await deliver(target);
    expect(await snapshot(org)).toEqual(after);
    await withOrganisation(db.app, org, (client) => client.query('DELETE FROM contacts'));
    await deliver(unreadable);
    expect((await snapshot(org)).contacts).toEqual([]);
  });

  it('shows no row without an organisation, nor to another organisation', async () => {
    const org = await mergedPair();
    expect((await snapshot(org)).contacts).toHaveLength(2);

    for (const table of ['contacts', 'interactions']) {
      const unscoped = await db.app.query(`SELECT count(*)::int AS n FROM ${table}`);
      expect({ table, n: (unscoped.rows[0] as { n: number }).n }).toEqual({ table, n: 0 });
    }
    const other = await snapshot(randomUUID());
    expect(other).toEqual({ contacts: [], interactions: [] });
  });

  it('lists interactions newest first from their index', async () => {
    const org = await mergedPair();
    await withOrganisation(db.app, org, async (client) => {
      const query = `SELECT interaction_id FROM interactions WHERE contact_id = 'target'
                      ORDER BY occurred_at DESC, interaction_id DESC LIMIT 50`;
      const { rows } = await client.query<{ interaction_id: string }>(query);
      // note-1 was moved after task-1 by its last update.
      expect(rows.map((r) => r.interaction_id)).toEqual(['note-1', 'task-1']);
    });
    const plan = await planWithOnly(
      org,
      'interactions',
      'interactions_newest',
      `SELECT interaction_id FROM interactions WHERE org_id = app_org_id() AND contact_id = 'target'
        ORDER BY occurred_at DESC, interaction_id DESC LIMIT 50`,
    );
    expect(plan).toContain('interactions_newest');
    expect(plan).not.toContain('"Sort"');
  });

  it('keeps search_text current and answers q, tag and sort from their indexes', async () => {
    const org = await mergedPair();
    const search = (q: string) =>
      withOrganisation(db.app, org, async (client) => {
        const { rows } = await client.query<{ contact_id: string }>(
          `SELECT contact_id FROM contacts
            WHERE search_text LIKE $1 ESCAPE '\\' ORDER BY contact_id`,
          [searchPattern(q)],
        );
        return rows.map((r) => r.contact_id);
      });

    // Name (accents folded, case ignored), old and new emails, taken-over email, company.
    expect(await search('ADA LOVE')).toEqual(['target']);
    expect(await search('countess@EX')).toEqual(['target']);
    expect(await search('byron@')).toEqual(['source', 'target']);
    expect(await search('engines')).toEqual(['target']);
    expect(await search('byron & co')).toEqual(['source']);
    expect(await search('josé')).toEqual([]); // renamed to Ada
    expect(await search('%')).toEqual([]);
    expect(await search('_')).toEqual([]);

    const last = await append(org, 'second', [
      {
        type: 'ContactCreated',
        schemaVersion: 1,
        data: {
          contactId: 'second',
          firstName: 'Zoë',
          lastName: null,
          emails: [],
          phones: [],
          company: '100% Réal_Estate',
          jobTitle: null,
          address: null,
          tags: [],
          notes: null,
          ownerUserId: null,
        },
      },
      {
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { firstName: 'Zoe', lastName: 'Quinn' },
      },
    ]);
    await project(last);
    expect(await search('zoe qu')).toEqual(['second']);
    expect(await search('100% real_')).toEqual(['second']);
    expect(await search('%')).toEqual(['second']);

    await withOrganisation(db.app, org, async (client) => {
      const { rows } = await client.query<Row>(
        `SELECT search_text, name_key FROM contacts WHERE contact_id = 'second'`,
      );
      expect(rows).toEqual([{ search_text: 'zoe quinn\n100% real_estate', name_key: 'zoe quinn' }]);
    });

    const plans: Record<string, string> = {
      contacts_search: `SELECT contact_id FROM contacts WHERE search_text LIKE '%ada%'`,
      contacts_tags: `SELECT contact_id FROM contacts WHERE tags @> ARRAY['vip']`,
      contacts_company_key: `SELECT contact_id FROM contacts WHERE company_key = 'byron & co'`,
      contacts_by_name: `SELECT contact_id FROM contacts WHERE archived = false
                             AND (name_key, contact_id) > ('a', 'x')
                           ORDER BY name_key, contact_id LIMIT 50`,
      contacts_by_updated: `SELECT contact_id FROM contacts WHERE archived = false
                              ORDER BY updated_at DESC, contact_id DESC LIMIT 50`,
      contacts_by_created: `SELECT contact_id FROM contacts WHERE archived = true
                              ORDER BY created_at, contact_id LIMIT 50`,
    };
    for (const [index, query] of Object.entries(plans)) {
      const plan = await planWithOnly(org, 'contacts', index, query);
      // Used, and used for the organisation too (org_id in the index condition, not a filter).
      const used = plan.includes(`"${index}"`) && /"Index Cond":"[^"]*org_id = /.test(plan);
      expect({ index, used }).toEqual({ index, used: true });
      if (query.includes('ORDER BY'))
        expect({ index, sorted: plan.includes('"Sort"') }).toEqual({ index, sorted: false });
    }
  });
});
