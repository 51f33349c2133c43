import { randomUUID } from 'node:crypto';
import { PostgresEventStore, type RecordedEvent } from '@beecastle/event-store';
import { newContactStream, newEvent } from '../../event-store/src/contract/test-events';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { CheckpointConflictError, CheckpointStore } from './checkpoint-store';
import type { Projection, ProjectionTransaction } from './projection';
import { ProjectionRunner } from './projection-runner';

/** Counts events per stream, idempotently: a redelivered revision changes nothing. */
class CountingProjection implements Projection {
  readonly name = 'test.counting';
  failuresLeft = 0;

  constructor(private readonly deliveries = new Map<string, number>()) {}

  async apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void> {
    for (const event of events) {
      this.deliveries.set(event.eventId, (this.deliveries.get(event.eventId) ?? 0) + 1);
      if (this.failuresLeft > 0) {
        this.failuresLeft -= 1;
        throw new Error('injected projection failure');
      }
      await tx.client.query(
        `INSERT INTO test_counts AS c (stream_id, last_revision, applied) VALUES ($1, $2, 1)
         ON CONFLICT (stream_id) DO UPDATE SET last_revision = EXCLUDED.last_revision, applied = c.applied + 1
          WHERE c.last_revision < EXCLUDED.last_revision`,
        [event.streamId, event.revision.toString()],
      );
    }
  }
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('ProjectionRunner (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  const org = randomUUID();
  const runners: ProjectionRunner[] = [];

  const runner = (projection: Projection): ProjectionRunner => {
    const r = new ProjectionRunner(projection, {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
      maxBatch: 7,
      standbyRetryMs: 100,
    });
    runners.push(r);
    return r;
  };

  const counts = async (): Promise<{ rows: number; applied: number; events: number }> => {
    const { rows } = await db.owner.query<{ rows: string; applied: string; events: string }>(
      `SELECT count(*) AS rows, coalesce(sum(applied), 0) AS applied,
              coalesce(sum(last_revision + 1), 0) AS events FROM test_counts`,
    );
    return {
      rows: Number(rows[0].rows),
      applied: Number(rows[0].applied),
      events: Number(rows[0].events),
    };
  };

  const appendMany = async (streams: number, perStream: number): Promise<void> => {
    for (let s = 0; s < streams; s += 1) {
      const stream = newContactStream(org);
      for (let r = 0; r < perStream; r += 1) {
        await store.appendToStream(stream, [newEvent(org)], {
          expectedRevision: BigInt(r) - 1n === -1n ? 'no_stream' : BigInt(r - 1),
        });
      }
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.owner.query(
      `CREATE TABLE test_counts (stream_id text PRIMARY KEY, last_revision bigint NOT NULL, applied int NOT NULL)`,
    );
    await db.owner.query(`GRANT SELECT, INSERT, UPDATE ON test_counts TO beecastle_app`);
    store = new PostgresEventStore(db.app, {
      listenConnectionString: db.appUrl,
      pollIntervalMs: 100,
    });
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    // Checkpoints stay: the next test's runner resumes after this test's events, as a restart would.
    await db.owner.query('TRUNCATE test_counts');
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('projects every event once, in batches, and resumes after a restart without loss or double effect', async () => {
    await appendMany(5, 4);
    const deliveries = new Map<string, number>();
    const first = runner(new CountingProjection(deliveries));
    first.start();
    await waitFor(async () => (await counts()).events >= 20, 'the first 20 events');
    await first.stop();
    const checkpoint = await new CheckpointStore(db.app).read('test.counting');
    expect(checkpoint.commit).toBeGreaterThan(0n);

    await appendMany(3, 3);
    const second = runner(new CountingProjection(deliveries));
    second.start();
    await waitFor(async () => (await counts()).events >= 29, 'all 29 events');
    await waitFor(() => second.current.state === 'live', 'the runner to catch up');
    // Every event was applied exactly once: applied counts increments, events counts revisions.
    expect(await counts()).toEqual({ rows: 8, applied: 29, events: 29 });
    // After a clean stop nothing is delivered twice, not even to the idempotent upsert.
    expect(deliveries.size).toBe(29);
    expect([...deliveries.values()].every((n) => n === 1)).toBe(true);
  });

  it('keeps a second instance on standby and fails over when the leader stops', async () => {
    const a = runner(new CountingProjection());
    const b = runner(new CountingProjection());
    a.start();
    await waitFor(() => a.current.state === 'live', 'the leader to go live');
    b.start();
    await waitFor(() => b.current.state === 'standby', 'the second to stand by');
    await appendMany(2, 2);
    await waitFor(async () => (await counts()).events >= 4, 'the leader to project');
    await a.stop();
    await waitFor(() => b.current.state === 'live', 'the standby to take over');
    await appendMany(1, 3);
    await waitFor(async () => (await counts()).events >= 7, 'the new leader to project');
    expect(await counts()).toEqual({ rows: 3, applied: 7, events: 7 });
  });

  it('rolls a failing batch back with its checkpoint and retries it, so nothing is lost or doubled', async () => {
    await appendMany(2, 5);
    const projection = new CountingProjection();
    projection.failuresLeft = 1;
    const r = runner(projection);
    r.start();
    await waitFor(async () => (await counts()).events >= 10, 'the retried batch');
    expect(projection.failuresLeft).toBe(0);
    expect(await counts()).toEqual({ rows: 2, applied: 10, events: 10 });
  });

  it('refuses to move a checkpoint from a stale position, and the rows of that batch roll back', async () => {
    const checkpoints = new CheckpointStore(db.app);
    const client = await db.app.connect();
    try {
      await client.query('BEGIN');
      await checkpoints.advance(
        client,
        'test.cas',
        { commit: 0n, prepare: 0n },
        { commit: 5n, prepare: 1n },
      );
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query(`INSERT INTO test_counts VALUES ('written-by-a-stale-batch', 0, 1)`);
      await expect(
        checkpoints.advance(
          client,
          'test.cas',
          { commit: 0n, prepare: 0n },
          { commit: 6n, prepare: 1n },
        ),
      ).rejects.toBeInstanceOf(CheckpointConflictError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await checkpoints.read('test.cas')).toEqual({ commit: 5n, prepare: 1n });
    expect((await counts()).rows).toBe(0);
  });
});
