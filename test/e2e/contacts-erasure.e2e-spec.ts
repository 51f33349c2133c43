import { randomUUID } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Client } from 'pg';
import { runCli } from '../../apps/cli/src/cli';
import { ExitCode } from '../../apps/cli/src/exit-codes';
import { capturedIo } from '../../apps/cli/src/testing/captured-io';
import { testMasterKeyProvider } from '../../libs/crypto/src/testing/test-master-key';
import { withOrganisation } from '../../libs/database/src';
import {
  TEST_ENV_VARIABLE,
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from '../../libs/database/src/testing/test-database';
import { streamName, type Position } from '../../libs/event-store/src';
import {
  CheckpointWait,
  CONTACTS_PROJECTION,
  PROJECTIONS,
  startPostgresProjector,
  type EventLog,
} from '../../libs/read-model/src';
import { openTestEventLog } from '../../libs/read-model/src/testing/test-event-log';
import {
  client,
  createOrganisation,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';
import { startTestApi, type TestApi } from './support/test-api';

/**
 * Erasure by crypto-shredding and the at-rest promise, over HTTPS against the whole system: the
 * API, a projector it does not share keys with, the CLI, and the raw database as its owner (and
 * its superuser, for the cluster's files).
 */

interface HistoryItem {
  version: number;
  type: string;
  at: string;
  actor: { id: string; type: string };
  requestId: string | null;
  changes: { field: string; before: unknown; after: unknown }[];
}

/** Values that must never be found in the log or the key store, only in the read models. */
function canaries() {
  const tag = randomUUID().slice(0, 8);
  return {
    firstName: `Canaryfirst${tag}`,
    lastName: `Canarylast${tag}`,
    email: `canary-${tag}@example.test`,
    // Ofcom's drama range (020 7946 0000–0999), normalised to E.164 by the API.
    phone: `+4420794600${Math.floor(Math.random() * 90 + 10)}`,
    notes: `Canary note ${randomUUID()}`,
    body: `Canary interaction ${randomUUID()}`,
  };
}

describe('contact erasure and encryption at rest', () => {
  let db: TestDatabase;
  let api: TestApi;
  let stopProjector: () => Promise<void>;
  let eventLog: EventLog;

  const startProjector = () => {
    stopProjector = startPostgresProjector(
      db.appUrl,
      PROJECTIONS,
      () => undefined,
      testMasterKeyProvider(),
    ).stop;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startTestApi({ databaseUrl: db.appUrl });
    startProjector();
    // A process of its own with the same master key, listening for destroyed keys.
    eventLog = openTestEventLog(db.app, { listenConnectionString: db.appUrl });
  });
  afterAll(async () => {
    await api?.close();
    await stopProjector?.();
    await eventLog?.close();
    await db?.drop();
  });

  const http = () => client(api);
  const lastPosition = async (): Promise<Position> =>
    (await eventLog.store.readAll({ direction: 'backwards', maxCount: 1 }))[0].position;
  const projected = async () =>
    new CheckpointWait(db.app, { timeoutMs: 30_000 }).until(
      CONTACTS_PROJECTION,
      await lastPosition(),
    );
  const contactEvents = (organisationId: string, id: string) =>
    eventLog.store.readStream(streamName('contact', organisationId, id)).catch(() => []);
  const allEvents = async (organisationId: string) =>
    (await eventLog.store.readAll({ filter: { organisationId } })).length;
  const readModel = (organisationId: string, id: string) =>
    withOrganisation(db.app, organisationId, async (c) => ({
      contacts: (await c.query('SELECT * FROM contacts WHERE contact_id = $1', [id])).rows,
      interactions: (await c.query('SELECT * FROM interactions WHERE contact_id = $1', [id])).rows,
    }));

  /** An organisation with an owner, an admin, an editor and a viewer, signed in. */
  const organisation = async () => {
    const { organisationId, owner } = await createOrganisation(db, `Erasure ${randomUUID()}`);
    const c = http();
    const ownerCaller = await c.signIn(owner, organisationId);
    return {
      organisationId,
      owner: ownerCaller,
      admin: await c.addMember(ownerCaller, organisationId, 'admin'),
      editor: await c.addMember(ownerCaller, organisationId, 'editor'),
      viewer: await c.addMember(ownerCaller, organisationId, 'viewer'),
    };
  };

  /** A contact with every kind of personal value, changed twice and with an interaction. */
  const contactWithHistory = async (editor: Caller, values = canaries()) => {
    const c = http();
    const created = await c.send('POST', '/v1/contacts', editor, {
      firstName: values.firstName,
      lastName: 'Before',
      emails: [{ address: values.email, label: 'work' }],
      phones: [{ number: values.phone }],
      notes: values.notes,
    });
    expect(created.status).toBe(201);
    const { id } = created.json() as { id: string };
    const updated = await c.send(
      'PATCH',
      `/v1/contacts/${id}`,
      editor,
      { lastName: values.lastName },
      {
        'if-match': '"0"',
      },
    );
    expect(updated.status).toBe(200);
    const logged = await c.send('POST', `/v1/contacts/${id}/interactions`, editor, {
      type: 'note',
      body: values.body,
    });
    expect(logged.status).toBe(201);
    return { id, values };
  };

  it('erases a contact for good: 404, [erased] history with its actors and times, purged read models, same count, verify passes', async () => {
    const org = await organisation();
    const c = http();
    const { id } = await contactWithHistory(org.editor);
    await projected();
    expect((await readModel(org.organisationId, id)).interactions).toHaveLength(1);
    const before = (await c.send('GET', `/v1/contacts/${id}/history`, org.owner)).json() as {
      items: HistoryItem[];
    };
    expect(before.items).toHaveLength(3);
    const countBefore = await allEvents(org.organisationId);
    const beforeErasure = new Date().toISOString();

    // Refusals first: nothing is appended, and the key is untouched.
    for (const caller of [org.editor, org.viewer]) {
      const res = await c.send('POST', `/v1/contacts/${id}/erase`, caller);
      expect([res.status, (res.json() as { code: string }).code]).toEqual([403, 'FORBIDDEN']);
    }
    const other = await organisation();
    const elsewhere = await c.send('POST', `/v1/contacts/${id}/erase`, other.admin);
    const random = await c.send('POST', `/v1/contacts/${randomUUID()}/erase`, org.admin);
    expect([elsewhere.status, random.status]).toEqual([404, 404]);
    expect(withoutRequestId(elsewhere)).toEqual(withoutRequestId(random));
    expect((await c.send('POST', '/v1/contacts/not-an-id/erase', org.admin)).status).toBe(400);
    const stale = await c.send('POST', `/v1/contacts/${id}/erase`, org.admin, undefined, {
      'if-match': '"1"',
    });
    expect(stale.status).toBe(412);
    expect(await allEvents(org.organisationId)).toBe(countBefore);
    expect((await contactEvents(org.organisationId, id)).some((e) => e.erased)).toBe(false);

    // A reader that has the contact's key cached before the erasure.
    expect((await contactEvents(org.organisationId, id))[0].data.length).toBeGreaterThan(0);

    const erased = await c.send('POST', `/v1/contacts/${id}/erase`, org.admin, undefined, {
      'if-match': '"2"',
    });
    expect([erased.status, erased.body]).toEqual([204, '']);

    // Reads: 404, as for an id that never existed, now and as of before the erasure.
    const gone = await c.send('GET', `/v1/contacts/${id}`, org.owner);
    expect(gone.status).toBe(404);
    expect(withoutRequestId(gone)).toEqual(
      withoutRequestId(await c.send('GET', `/v1/contacts/${randomUUID()}`, org.owner)),
    );
    const asOf = await c.send('GET', `/v1/contacts/${id}?asOf=${beforeErasure}`, org.owner);
    expect(asOf.status).toBe(404);
    expect((await c.send('GET', `/v1/contacts/${id}/interactions`, org.owner)).status).toBe(404);
    const patch = await c.send(
      'PATCH',
      `/v1/contacts/${id}`,
      org.editor,
      { notes: 'x' },
      {
        'if-match': '"3"',
      },
    );
    expect(patch.status).toBe(404);

    // History: every change still there, by whom and when, with its values [erased].
    const after = (await c.send('GET', `/v1/contacts/${id}/history`, org.owner)).json() as {
      items: HistoryItem[];
    };
    expect(after.items).toHaveLength(4);
    const envelope = ({ version, type, at, actor, requestId }: HistoryItem) => ({
      version,
      type,
      at,
      actor,
      requestId,
    });
    expect(after.items.slice(0, 3).map(envelope)).toEqual(before.items.map(envelope));
    for (const item of after.items.slice(0, 3)) {
      expect(item.changes).toEqual([{ field: '[erased]', before: '[erased]', after: '[erased]' }]);
    }
    expect(after.items[3]).toMatchObject({
      version: 3,
      type: 'ContactErased',
      actor: { id: org.admin.id, type: 'user' },
      changes: [{ field: 'erased', before: false, after: true }],
    });
    const text = JSON.stringify(after);
    expect(text).not.toContain('Canary');

    // The log keeps its shape (one event more, none fewer), and its chains verify without keys.
    expect(await allEvents(org.organisationId)).toBe(countBefore + 1);
    const verify = capturedIo({ DATABASE_URL: db.appUrl, MASTER_KEY: '' });
    expect(await runCli(['verify', '--org', org.organisationId], verify)).toBe(ExitCode.Ok);
    expect(JSON.parse(verify.out)).toMatchObject({ ok: true, eventsChecked: expect.any(Number) });

    // Read models: the contact and its interactions are gone.
    await projected();
    expect(await readModel(org.organisationId, id)).toEqual({ contacts: [], interactions: [] });
    const list = (await c.send('GET', '/v1/contacts', org.owner)).json() as {
      items: { id: string }[];
    };
    expect(list.items.map((item) => item.id)).not.toContain(id);

    // No path decrypts it again: this process's cached key was dropped, a fresh process finds
    // none, and the key store holds a tombstone.
    const deadline = Date.now() + 5_000;
    while (!(await contactEvents(org.organisationId, id))[0].erased) {
      if (Date.now() > deadline) throw new Error('a cached key still opened the erased contact');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const fresh = openTestEventLog(db.app);
    try {
      const events = await fresh.store.readStream(streamName('contact', org.organisationId, id));
      expect(events.map((e) => [e.type, e.erased === true, e.data.length > 0])).toEqual([
        ['ContactCreated', true, false],
        ['ContactUpdated', true, false],
        ['InteractionLogged', true, false],
        ['ContactErased', false, true],
      ]);
    } finally {
      await fresh.close();
    }
    const keys = await withOrganisation(db.owner, org.organisationId, async (client) => {
      const { rows } = await client.query<{ wrapped_key: Buffer | null; destroyed: boolean }>(
        `SELECT wrapped_key, destroyed_at IS NOT NULL AS destroyed FROM data_keys WHERE subject_id = $1`,
        [id],
      );
      return rows;
    });
    expect(keys).toEqual([{ wrapped_key: null, destroyed: true }]);

    // Erasing again answers the same and records nothing.
    expect((await c.send('POST', `/v1/contacts/${id}/erase`, org.owner)).status).toBe(204);
    expect(await allEvents(org.organisationId)).toBe(countBefore + 1);
  });

  it('a rebuild of the read models renders the same after an erasure', async () => {
    const org = await organisation();
    const c = http();
    const kept = await contactWithHistory(org.editor);
    const erased = await contactWithHistory(org.editor);
    expect((await c.send('POST', `/v1/contacts/${erased.id}/erase`, org.admin)).status).toBe(204);
    await projected();
    const snapshot = async () => ({
      kept: await readModel(org.organisationId, kept.id),
      erased: await readModel(org.organisationId, erased.id),
    });
    const before = await snapshot();
    expect(before.kept.contacts).toHaveLength(1);
    expect(before.erased).toEqual({ contacts: [], interactions: [] });

    await stopProjector();
    await db.owner.query('TRUNCATE contacts, interactions');
    await db.owner.query('DELETE FROM projection_checkpoints WHERE projection = $1', [
      CONTACTS_PROJECTION,
    ]);
    startProjector();
    await projected();
    expect(await snapshot()).toEqual(before);
  });

  describe('at rest', () => {
    it('shows the schema owner no plaintext of a contact in the log or the key store, and metadata only ids', async () => {
      const org = await organisation();
      const { id, values } = await contactWithHistory(org.editor);
      await projected();
      const planted = Object.values(values);

      const raw = await withOrganisation(db.owner, org.organisationId, async (owner) => {
        const text = async (sql: string, params: unknown[] = []) =>
          (await owner.query<{ r: string }>(sql, params)).rows.map((row) => row.r).join('\n');
        return {
          events: await text(`SELECT e::text AS r FROM events e WHERE org_id = $1`, [
            org.organisationId,
          ]),
          eventBytes: await text(
            `SELECT encode(data, 'escape') || encode(metadata, 'escape') AS r FROM events WHERE org_id = $1`,
            [org.organisationId],
          ),
          streams: await text(`SELECT s::text AS r FROM streams s WHERE org_id = $1`, [
            org.organisationId,
          ]),
          organisationKeys: await text(`SELECT k::text AS r FROM organisation_keys k`),
          dataKeys: await text(`SELECT k::text AS r FROM data_keys k`),
          masterKeys: await text(`SELECT k::text AS r FROM master_keys k`),
          // The control: the read models are where the README says plaintext lives.
          readModels: await text(
            `SELECT c::text AS r FROM contacts c UNION ALL SELECT i::text FROM interactions i`,
          ),
        };
      });
      expect(raw.events).toContain(id);
      expect(raw.dataKeys).toContain(id);
      for (const value of planted) {
        expect(raw.readModels).toContain(value);
        for (const place of [
          'events',
          'eventBytes',
          'streams',
          'organisationKeys',
          'dataKeys',
          'masterKeys',
        ] as const) {
          expect({ place, value, found: raw[place].includes(value) }).toEqual({
            place,
            value,
            found: false,
          });
        }
      }

      // Metadata: ids, types, the actor and where from; nothing of the contact.
      for (const event of await contactEvents(org.organisationId, id)) {
        expect(
          Object.keys(event.metadata).every((key) =>
            [
              'organisationId',
              'actorId',
              'actorType',
              'requestId',
              'correlationId',
              'causationId',
              'clientIp',
              'keyId',
            ].includes(key),
          ),
        ).toBe(true);
        expect(event.metadata.keyId).toBe(`${id}:1`);
      }
    });

    it('leaves the canaries in the cluster’s files only where the read models (and the WAL) are', async () => {
      const env = JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;
      const url = new URL(env.superuserUrl);
      url.pathname = `/${db.name}`;
      const su = new Client({ connectionString: url.toString() });
      await su.connect();
      try {
        // The embedded test cluster's files are this process's to read; a server named by
        // TEST_DATABASE_URL may be elsewhere.
        if (process.env.TEST_DATABASE_URL) return;
        const dataDirectory = (
          await su.query<{ d: string }>(`SELECT current_setting('data_directory') AS d`)
        ).rows[0].d;
        await access(dataDirectory);

        const org = await organisation();
        const { values } = await contactWithHistory(org.editor);
        await projected();
        await su.query('CHECKPOINT');
        const planted = [
          values.firstName,
          values.lastName,
          values.email,
          values.notes,
          values.body,
        ];

        const hits = new Map<string, string[]>();
        const scan = async (dir: string): Promise<void> => {
          for (const entry of await readdir(dir, { withFileTypes: true })) {
            const path = join(dir, entry.name);
            if (entry.isDirectory()) await scan(path);
            else if (entry.isFile()) {
              const bytes = await readFile(path).catch(() => undefined);
              if (!bytes) continue;
              const found = planted.filter((value) => bytes.includes(Buffer.from(value, 'utf8')));
              if (found.length > 0) hits.set(relative(dataDirectory, path), found);
            }
          }
        };
        await scan(dataDirectory);
        expect(hits.size).toBeGreaterThan(0); // the scan can find them

        // Each file a relation's (base/<database oid>/<filenode>[.n|_fsm|_vm]) or the WAL.
        const allowed = new Set(['contacts', 'interactions']);
        const databaseOid = (
          await su.query<{ oid: string }>(
            'SELECT oid::text FROM pg_database WHERE datname = current_database()',
          )
        ).rows[0].oid;
        const misplaced: string[] = [];
        for (const [file, found] of hits) {
          if (file.startsWith('pg_wal/')) continue; // recent changes to the read models
          const match = /^base\/(\d+)\/(\d+)(?:\.\d+|_fsm|_vm)?$/.exec(file);
          const relation =
            match && match[1] === databaseOid
              ? (
                  await su.query<{ name: string | null }>(
                    `SELECT coalesce(
                     (SELECT t.relname FROM pg_class t
                       WHERE t.reltoastrelid = r.oid
                          OR t.oid = (SELECT indrelid FROM pg_index WHERE indexrelid = r.oid)),
                     r.relname) AS name
                     FROM pg_class r WHERE r.oid = pg_filenode_relation(0, $1::oid)`,
                    [match[2]],
                  )
                ).rows[0]?.name
              : undefined;
          if (!relation || !allowed.has(relation))
            misplaced.push(`${file} (${relation ?? 'unknown'}): ${found.join(', ')}`);
        }
        expect(misplaced).toEqual([]);
      } finally {
        await su.end();
      }
    });
  });
});
