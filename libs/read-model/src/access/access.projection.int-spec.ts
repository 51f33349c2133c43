import { randomUUID } from 'node:crypto';
import type { OrganisationEvent } from '@beecastle/domain';
import { withOrganisation } from '@beecastle/database';
import {
  PostgresEventStore,
  streamName,
  type AppendResult,
  type ExpectedRevision,
  type RecordedEvent,
} from '@beecastle/event-store';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { CheckpointWait, ProjectionLagError } from '../checkpoint-wait';
import { ProjectionRunner } from '../projection-runner';
import { ACCESS_PROJECTION, AccessProjection } from './access.projection';
import { encodeOrganisationEventData } from './organisation-event-codec';

const HASH = 'ab'.repeat(32);
type Row = Record<string, unknown>;

describe('access projection (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let runner: ProjectionRunner | undefined;
  const projection = new AccessProjection();

  const append = (
    org: string,
    events: OrganisationEvent[],
    expectedRevision: ExpectedRevision,
  ): Promise<AppendResult> =>
    store.appendToStream(
      streamName('organisation', org, org),
      events.map((event) => ({
        eventId: randomUUID(),
        type: event.type,
        schemaVersion: event.schemaVersion,
        data: encodeOrganisationEventData(event),
        metadata: { organisationId: org, actorId: 'test', actorType: 'system' as const },
      })),
      { expectedRevision },
    );

  const startRunner = () => {
    runner = new ProjectionRunner(projection, {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
      standbyRetryMs: 50,
    });
    runner.start();
  };

  /** Everything the read model holds for one organisation, as the application role sees it. */
  const snapshot = (org: string) =>
    withOrganisation(db.app, org, async (client) => ({
      organisations: (await client.query<Row>('SELECT * FROM organisations ORDER BY org_id')).rows,
      memberships: (await client.query<Row>('SELECT * FROM memberships ORDER BY user_id')).rows,
      apiKeys: (await client.query<Row>('SELECT * FROM api_keys ORDER BY key_id')).rows,
    }));

  /** Redelivers events to the projection in a transaction of its own, as the runner would. */
  const redeliver = async (events: readonly RecordedEvent[]) => {
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

  const history = (org: string, owner: string, editor: string, key: string) => {
    const created: OrganisationEvent[] = [
      {
        type: 'OrganisationCreated',
        schemaVersion: 1,
        data: { organisationId: org, name: 'Acme' },
      },
      {
        type: 'UserAdded',
        schemaVersion: 1,
        data: { userId: owner, email: 'owner@acme.test', name: 'Olive', role: 'owner' },
      },
    ];
    const later: OrganisationEvent[] = [
      {
        type: 'UserAdded',
        schemaVersion: 1,
        data: { userId: editor, email: 'ed@acme.test', name: 'Ed', role: 'editor' },
      },
      { type: 'UserRenamed', schemaVersion: 1, data: { userId: editor, name: 'Edward' } },
      {
        type: 'UserRoleChanged',
        schemaVersion: 1,
        data: { userId: editor, from: 'editor', to: 'viewer' },
      },
      { type: 'UserDeactivated', schemaVersion: 1, data: { userId: editor } },
      {
        type: 'ApiKeyIssued',
        schemaVersion: 1,
        data: {
          apiKeyId: key,
          name: 'sync',
          role: 'viewer',
          createdBy: owner,
          expiresAt: '2030-01-01T00:00:00.000Z',
          secretHash: HASH,
        },
      },
      { type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: key } },
      { type: 'OrganisationRenamed', schemaVersion: 1, data: { name: 'Acme Ltd' } },
    ];
    return { created, later };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app, { listenConnectionString: db.appUrl });
  });

  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('projects an organisation’s life into organisations, memberships and api_keys', async () => {
    const [org, owner, editor, key] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const { created, later } = history(org, owner, editor, key);
    await append(org, created, 'no_stream');
    const last = await append(org, later, 1n);
    startRunner();
    await new CheckpointWait(db.app).until(ACCESS_PROJECTION, last.position);

    const rows = await snapshot(org);
    expect(rows.organisations).toEqual([
      expect.objectContaining({ org_id: org, name: 'Acme Ltd', revision: '8' }),
    ]);
    expect(rows.memberships).toHaveLength(2);
    expect(rows.memberships.find((m) => m.user_id === owner)).toMatchObject({
      email: 'owner@acme.test',
      name: 'Olive',
      role: 'owner',
      status: 'active',
      revision: '1',
    });
    expect(rows.memberships.find((m) => m.user_id === editor)).toMatchObject({
      email: 'ed@acme.test',
      name: 'Edward',
      role: 'viewer',
      status: 'deactivated',
      revision: '5',
    });
    expect(rows.apiKeys).toEqual([
      expect.objectContaining({
        key_id: key,
        name: 'sync',
        role: 'viewer',
        created_by: owner,
        expires_at: new Date('2030-01-01T00:00:00.000Z'),
        revoked_at: expect.any(Date),
        revision: '7',
      }),
    ]);
    expect((rows.apiKeys[0] as { secret_hash: Buffer }).secret_hash.toString('hex')).toBe(HASH);
  });

  it('changes nothing when events are redelivered, whole or in part, or out of a stale batch', async () => {
    const [org, owner, editor, key] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const { created, later } = history(org, owner, editor, key);
    await append(org, created, 'no_stream');
    await append(org, later, 1n);
    const last = await append(
      org,
      [{ type: 'UserReactivated', schemaVersion: 1, data: { userId: editor } }],
      8n,
    );
    startRunner();
    await new CheckpointWait(db.app).until(ACCESS_PROJECTION, last.position);
    const before = await snapshot(org);
    expect(before.memberships.find((m) => m.user_id === editor)).toMatchObject({
      status: 'active',
      revision: '9',
    });

    const recorded = await store.readStream(streamName('organisation', org, org));
    await redeliver(recorded);
    await redeliver(recorded.slice(2, 4)); // the editor added as "Ed", an editor, again
    await redeliver([recorded[5]]); // the deactivation must not undo the later reactivation
    await redeliver([recorded[7]]); // nor the revocation move revoked_at

    expect(await snapshot(org)).toEqual(before);
  });

  it('shows an organisation’s rows only to a transaction that names it', async () => {
    const [org, other] = [randomUUID(), randomUUID()];
    const owner = randomUUID();
    await append(org, history(org, owner, randomUUID(), randomUUID()).created, 'no_stream');
    const last = await append(
      other,
      history(other, randomUUID(), randomUUID(), randomUUID()).created,
      'no_stream',
    );
    startRunner();
    await new CheckpointWait(db.app).until(ACCESS_PROJECTION, last.position);

    // No organisation set: the application role sees nothing at all.
    for (const table of ['organisations', 'memberships', 'api_keys']) {
      const { rows } = await db.app.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      expect(rows[0].n).toBe('0');
    }
    const mine = await snapshot(org);
    expect(mine.organisations.map((o) => o.org_id)).toEqual([org]);
    expect(mine.memberships.map((m) => m.user_id)).toEqual([owner]);
    const theirs = await snapshot(other);
    expect(theirs.organisations.map((o) => o.org_id)).toEqual([other]);
    expect(theirs.memberships).toHaveLength(1);
    expect(theirs.memberships.map((m) => m.user_id)).not.toContain(owner);
  });

  describe('read-your-writes wait', () => {
    it('resolves only once the projection has applied the position waited for', async () => {
      const org = randomUUID();
      startRunner();
      const appended = await append(
        org,
        history(org, randomUUID(), randomUUID(), randomUUID()).created,
        'no_stream',
      );
      await new CheckpointWait(db.app, { pollMs: 2 }).until(ACCESS_PROJECTION, appended.position);
      // Right after the wait, with no further delay, the read model has it.
      expect((await snapshot(org)).organisations).toHaveLength(1);
    });

    it('fails loudly, naming the projection, when nothing projects within the timeout', async () => {
      const org = randomUUID();
      const appended = await append(
        org,
        history(org, randomUUID(), randomUUID(), randomUUID()).created,
        'no_stream',
      );
      const started = Date.now();
      const error = await new CheckpointWait(db.app, { timeoutMs: 150 })
        .until(ACCESS_PROJECTION, appended.position)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(ProjectionLagError);
      expect((error as Error).message).toMatch(/access did not reach/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect((await snapshot(org)).organisations).toHaveLength(0);
    });

    it('serves many waiters at once from one polling loop', async () => {
      const wait = new CheckpointWait(db.app, { pollMs: 2 });
      const orgs = [randomUUID(), randomUUID(), randomUUID()];
      const appended = await Promise.all(
        orgs.map((org) =>
          append(org, history(org, randomUUID(), randomUUID(), randomUUID()).created, 'no_stream'),
        ),
      );
      const waits = appended.map((a) => wait.until(ACCESS_PROJECTION, a.position));
      startRunner();
      await Promise.all(waits);
      for (const org of orgs) expect((await snapshot(org)).organisations).toHaveLength(1);
    });
  });
});
