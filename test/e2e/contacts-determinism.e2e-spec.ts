import { Client } from 'pg';
import { PostgresEventStore, type Position } from '../../libs/event-store/src';
import { testMasterKeyProvider } from '../../libs/crypto/src/testing/test-master-key';
import {
  CheckpointWait,
  CONTACTS_PROJECTION,
  PROJECTIONS,
  startPostgresProjector,
} from '../../libs/read-model/src';
import {
  createTestDatabase,
  TEST_ENV_VARIABLE,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from '../../libs/database/src/testing/test-database';
import { client, createOrganisation, type Caller } from './support/live-organisation';
import { startTestApi, type TestApi } from './support/test-api';

/**
 * The read models are a function of the log. After a random mix of commands from several clients
 * at once (conflicts, refusals, merges and erasures included), the contacts and interactions
 * tables the live projector built must equal, row for row, what a rebuild from the log alone
 * produces: an erased contact is purged from both, and its earlier payloads no longer open.
 * The seed is printed so a failure can be replayed: BEECASTLE_DETERMINISM_SEED=<n>.
 */

const COMMANDS = 2_000;
const WORKERS = 8;
const SEED = Number(process.env.BEECASTLE_DETERMINISM_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: small, seedable, good enough to pick commands. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'José', 'Zoë', 'Łukasz'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Núñez', null];
const COMPANIES = ['Analytical Engines', 'Navy', 'Bletchley', null, 'ACME'];
const TAGS = ['vip', 'lead', 'partner', 'press', 'supplier'];
const TYPES = ['call', 'email', 'meeting', 'note', 'task'] as const;

interface Organisation {
  readonly id: string;
  readonly callers: Caller[];
  readonly owner: Caller;
  readonly contacts: string[];
  readonly interactions: Map<string, string[]>;
  /** Erased (crypto-shredded): from then on every command on it answers 404. */
  readonly erased: Set<string>;
}

function superuserClient(db: TestDatabase): Client {
  const env = JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;
  const url = new URL(env.superuserUrl);
  url.pathname = `/${db.name}`;
  return new Client({ connectionString: url.toString() });
}

/** Every row of both read models as JSON, in key order (as a superuser: row-level security aside). */
async function readModels(db: TestDatabase): Promise<unknown[]> {
  const su = superuserClient(db);
  await su.connect();
  try {
    const contacts = await su.query<{ row: unknown }>(
      `SELECT to_jsonb(c) AS row FROM contacts c ORDER BY org_id, contact_id`,
    );
    const interactions = await su.query<{ row: unknown }>(
      `SELECT to_jsonb(i) AS row FROM interactions i ORDER BY org_id, contact_id, interaction_id`,
    );
    return [...contacts.rows, ...interactions.rows].map((r) => r.row);
  } finally {
    await su.end();
  }
}

async function lastPosition(store: PostgresEventStore): Promise<Position> {
  const [last] = await store.readAll({ direction: 'backwards', maxCount: 1 });
  return last.position;
}

describe('contacts read models are deterministic', () => {
  let db: TestDatabase;
  let api: TestApi;
  let store: PostgresEventStore;
  let stopProjector: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startTestApi({ databaseUrl: db.appUrl });
    stopProjector = startPostgresProjector(
      db.appUrl,
      PROJECTIONS,
      () => undefined,
      testMasterKeyProvider(),
    ).stop;
    store = new PostgresEventStore(db.app);
  });

  afterAll(async () => {
    await api?.close();
    await stopProjector?.();
    await store?.close();
    await db?.drop();
  });

  it(`equal a rebuild from the log after ${COMMANDS} random commands (seed ${SEED})`, async () => {
    const http = client(api);
    const next = random(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)];

    const organisations: Organisation[] = [];
    for (const name of ['North', 'South', 'East']) {
      const { organisationId, owner } = await createOrganisation(db, name);
      const ownerCaller = await http.signIn(owner, organisationId);
      const editor = await http.addMember(ownerCaller, organisationId, 'editor');
      const key = await http.issueKey(ownerCaller, 'editor');
      organisations.push({
        id: organisationId,
        owner: ownerCaller,
        callers: [ownerCaller, editor, key],
        contacts: [],
        interactions: new Map(),
        erased: new Set(),
      });
    }

    const contactBody = () => ({
      firstName: pick(FIRST),
      lastName: pick(LAST),
      emails: next() < 0.7 ? [{ address: `p${Math.floor(next() * 1e6)}@example.test` }] : [],
      company: pick(COMPANIES),
      tags: TAGS.filter(() => next() < 0.25),
      ...(next() < 0.3 && { notes: `note ${Math.floor(next() * 1e6)}` }),
    });

    const statuses = new Map<string, number>();
    const count = (what: string, status: number) =>
      statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);
    /** One of the answers expected, or 404 for a contact erased meanwhile by another worker. */
    const expectAnswer = (status: number, expected: number[], org: Organisation, ids: string[]) => {
      if (status === 404 && ids.some((id) => org.erased.has(id))) return;
      expect(expected).toContain(status);
    };

    /** One command, chosen from what the organisation has; the answer must be a known one. */
    const command = async (): Promise<void> => {
      const org = pick(organisations);
      const caller = pick(org.callers);
      const roll = next();
      const contactId = org.contacts.length > 0 ? pick(org.contacts) : undefined;
      const path = `/v1/contacts/${contactId ?? ''}`;
      if (roll < 0.3 || contactId === undefined) {
        const res = await http.send('POST', '/v1/contacts', caller, contactBody());
        count('create', res.status);
        expect(res.status).toBe(201);
        org.contacts.push((res.json() as { id: string }).id);
      } else if (roll < 0.55) {
        const current = await http.send('GET', path, caller);
        expectAnswer(current.status, [200], org, [contactId]);
        if (current.status !== 200) return;
        // A stale version now and then: the answer is 412 and nothing changes.
        const version = Number(JSON.parse(String(current.headers.etag)));
        const ifMatch = `"${next() < 0.1 ? Math.max(0, version - 1) : version}"`;
        const changes = next() < 0.5 ? { company: pick(COMPANIES) } : { tags: [pick(TAGS)] };
        const res = await http.send('PATCH', path, caller, changes, { 'if-match': ifMatch });
        count('update', res.status);
        expectAnswer(res.status, [200, 409, 412], org, [contactId]);
      } else if (roll < 0.6) {
        const res = await http.send('DELETE', path, caller);
        count('archive', res.status);
        expectAnswer(res.status, [204, 409], org, [contactId]);
      } else if (roll < 0.65) {
        const res = await http.send('POST', `${path}/unarchive`, caller);
        count('unarchive', res.status);
        expectAnswer(res.status, [200, 409], org, [contactId]);
      } else if (roll < 0.85) {
        const type = pick(TYPES);
        const res = await http.send('POST', `${path}/interactions`, caller, {
          type,
          subject: `About ${pick(FIRST)}`,
          occurredAt: new Date(Date.UTC(2026, 0, 1) + Math.floor(next() * 3e10)).toISOString(),
          ...(type === 'task' && { dueAt: '2027-01-01T09:00:00.000Z' }),
          ...(type === 'call' && { direction: 'outbound', durationSeconds: 60 }),
        });
        count('log interaction', res.status);
        expectAnswer(res.status, [201, 409], org, [contactId]);
        if (res.status === 201) {
          const list = org.interactions.get(contactId) ?? [];
          list.push((res.json() as { id: string }).id);
          org.interactions.set(contactId, list);
        }
      } else if (roll < 0.95) {
        const interactions = org.interactions.get(contactId) ?? [];
        if (interactions.length === 0) return;
        const interactionId = pick(interactions);
        const target = `${path}/interactions/${interactionId}`;
        if (next() < 0.6) {
          const current = await http.send('GET', path, caller);
          expectAnswer(current.status, [200], org, [contactId]);
          if (current.status !== 200) return;
          const res = await http.send(
            'PATCH',
            target,
            caller,
            { subject: `Follow-up ${Math.floor(next() * 1e6)}` },
            { 'if-match': String(current.headers.etag) },
          );
          count('update interaction', res.status);
          expectAnswer(res.status, [200, 404, 409, 412], org, [contactId]);
        } else {
          const res = await http.send('DELETE', target, caller);
          count('remove interaction', res.status);
          expectAnswer(res.status, [204, 404, 409], org, [contactId]);
        }
      } else if (roll < 0.98) {
        const sourceId = pick(org.contacts);
        const res = await http.send('POST', `${path}/merge`, caller, { sourceId });
        count('merge', res.status);
        expectAnswer(res.status, [200, 400, 409], org, [contactId, sourceId]);
      } else {
        // Marked first: a worker that picked it already may be answered 404 from here on.
        org.erased.add(contactId);
        const res = await http.send('POST', `${path}/erase`, org.owner);
        count('erase', res.status);
        expect(res.status).toBe(204);
      }
    };

    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        for (let i = 0; i < COMMANDS / WORKERS; i += 1) await command();
      }),
    );

    const waits = new CheckpointWait(db.app, { timeoutMs: 30_000 });
    await waits.until(CONTACTS_PROJECTION, await lastPosition(store));
    const live = await readModels(db);

    // Rebuild: the same projection from an empty read model and no checkpoint, from the log only.
    await stopProjector?.();
    stopProjector = undefined;
    const su = superuserClient(db);
    await su.connect();
    try {
      await su.query(`TRUNCATE contacts, interactions`);
      await su.query(`DELETE FROM projection_checkpoints WHERE projection = $1`, [
        CONTACTS_PROJECTION,
      ]);
    } finally {
      await su.end();
    }
    expect(await readModels(db)).toEqual([]);
    stopProjector = startPostgresProjector(
      db.appUrl,
      PROJECTIONS,
      () => undefined,
      testMasterKeyProvider(),
    ).stop;
    // A new waiter: the first one remembers the checkpoint it saw before the reset.
    await new CheckpointWait(db.app, { timeoutMs: 60_000 }).until(
      CONTACTS_PROJECTION,
      await lastPosition(store),
    );
    const rebuilt = await readModels(db);

    // The mix really exercised the model: many rows, and every kind of command succeeded somewhere.
    expect(live.length).toBeGreaterThan(500);
    const kinds = [
      'create 201',
      'update 200',
      'update 412',
      'archive 204',
      'log interaction 201',
      'erase 204',
    ];
    expect(kinds.filter((kind) => !statuses.has(kind))).toEqual([]);
    // Erased contacts are gone from the read models, with their interactions.
    const erased = new Set(organisations.flatMap((org) => [...org.erased]));
    const rowsOfErased = live.filter((row) =>
      erased.has((row as { contact_id: string }).contact_id),
    );
    expect(rowsOfErased).toEqual([]);
    expect(rebuilt).toEqual(live);
  }, 240_000);
});
