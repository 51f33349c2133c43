import { randomUUID } from 'node:crypto';
import { PostgresEventStore, type RecordedEvent } from '@beecastle/event-store';
import { newContactStream, newEvent } from '../../event-store/src/contract/test-events';
import { createPool } from '../../database/src/pool';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { CheckpointConflictError, CheckpointStore } from './checkpoint-store';
import { CheckpointWait } from './checkpoint-wait';
import type { Projection, ProjectionTransaction } from './projection';
import { ProjectionRunner } from './projection-runner';

/** Counts events per stream, idempotently: a redelivered revision changes nothing. */
class CountingProjection implements Projection {
  readonly name = 'test.counting';
  failuresLeft = 0;
  readonly batchSizes: number[] = [];

  constructor(private readonly deliveries = new Map<string, number>()) {}

  async apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void> {
    this.batchSizes.push(events.length);
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

/** CountingProjection's writes deferred (sent, not awaited); a failing one first when asked. */
class DeferringProjection implements Projection {
  readonly name = 'test.counting';
  failuresLeft = 0;

  async apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void> {
    await tx.forOrganisation(events[0].metadata.organisationId);
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      tx.defer(tx.client.query(`INSERT INTO test_counts (no_such_column) VALUES (1)`));
    }
    for (const event of events) {
      tx.defer(
        tx.client.query(
          `INSERT INTO test_counts AS c (stream_id, last_revision, applied) VALUES ($1, $2, 1)
           ON CONFLICT (stream_id) DO UPDATE SET last_revision = EXCLUDED.last_revision, applied = c.applied + 1
            WHERE c.last_revision < EXCLUDED.last_revision`,
          [event.streamId, event.revision.toString()],
        ),
      );
    }
    // A read after the writes: on a pipelining connection it is answered after them.
    await tx.client.query('SELECT 1');
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

  const runner = (
    projection: Projection,
    options: Partial<ConstructorParameters<typeof ProjectionRunner>[1]> = {},
  ): ProjectionRunner => {
    const r = new ProjectionRunner(projection, {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
      maxBatch: 7,
      standbyRetryMs: 100,
      ...options,
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

  it('commits deferred writes with the batch on a pipelining pool; a failing one rolls the batch back, is the error reported, and the batch is retried', async () => {
    const pipelining = createPool(db.appUrl, {
      applicationName: 'test-pipelining',
      max: 2,
      pipeline: true,
    });
    try {
      await appendMany(3, 3);
      const projection = new DeferringProjection();
      projection.failuresLeft = 1;
      const failures: unknown[] = [];
      const r = runner(projection, {
        pool: pipelining,
        log: (message, fields) => {
          if (message.includes('failed')) failures.push(fields?.error);
        },
      });
      r.start();
      await waitFor(async () => (await counts()).events >= 9, 'the retried batch');
      expect(projection.failuresLeft).toBe(0);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/no_such_column/);
      // The failed batch left nothing: every event applied exactly once.
      expect(await counts()).toEqual({ rows: 3, applied: 9, events: 9 });
    } finally {
      await Promise.all(runners.splice(0).map((x) => x.stop()));
      await pipelining.end();
    }
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

  it('commits the checkpoint with COMMIT in one statement, and on a stale one commits nothing', async () => {
    const checkpoints = new CheckpointStore(db.app);
    const client = await db.app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO test_counts VALUES ('committed-with-its-checkpoint', 0, 1)`);
      await checkpoints.advanceAndCommit(
        client,
        'test.cas-commit',
        { commit: 0n, prepare: 0n },
        { commit: 5n, prepare: 1n },
      );
      // The transaction is over: this stale attempt opens its own (the prefix) and fails in it.
      await expect(
        checkpoints.advanceAndCommit(
          client,
          'test.cas-commit',
          { commit: 4n, prepare: 1n },
          { commit: 6n, prepare: 1n },
          `BEGIN; INSERT INTO test_counts VALUES ('written-by-a-stale-batch', 0, 1); `,
        ),
      ).rejects.toBeInstanceOf(CheckpointConflictError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await checkpoints.read('test.cas-commit')).toEqual({ commit: 5n, prepare: 1n });
    const { rows } = await db.owner.query<{ stream_id: string }>(
      'SELECT stream_id FROM test_counts',
    );
    expect(rows.map((r) => r.stream_id)).toEqual(['committed-with-its-checkpoint']);
  });

  describe('live, with the poll too slow to help (only NOTIFY wakes the subscription)', () => {
    let slowPoll: PostgresEventStore;

    beforeAll(() => {
      slowPoll = new PostgresEventStore(db.app, {
        listenConnectionString: db.appUrl,
        pollIntervalMs: 60_000,
      });
    });

    afterAll(async () => {
      await slowPoll.close();
    });

    const appendOne = async (type?: string) => {
      const result = await slowPoll.appendToStream(
        newContactStream(org),
        [newEvent(org, type ? { type } : {})],
        { expectedRevision: 'no_stream' },
      );
      return result.position;
    };

    it('applies and checkpoints each event of a trickle promptly, however short of a batch', async () => {
      const projection = new CountingProjection();
      const r = runner(projection, { store: slowPoll });
      r.start();
      await waitFor(() => r.current.state === 'live', 'the runner to go live');
      // A read-your-writes wait that fails if the checkpoint has not passed the event by then.
      const wait = new CheckpointWait(db.app, { pollMs: 2, timeoutMs: 1_000 });
      for (let i = 0; i < 10; i += 1) {
        const position = await appendOne();
        await wait.until('test.counting', position);
      }
      // The lone last event too, with nothing appended after it.
      expect(await counts()).toEqual({ rows: 10, applied: 10, events: 10 });
    });

    it('moves the checkpoint past events it does not take, at most once per idleCheckpointMs', async () => {
      let commits = 0;
      // The runner's pool, counting the connections it takes: one per commit.
      const pool = {
        query: (...args: Parameters<typeof db.app.query>) => db.app.query(...args),
        connect: () => {
          commits += 1;
          return db.app.connect();
        },
      } as unknown as typeof db.app;
      const projection = Object.assign(new CountingProjection(), { eventTypes: ['ContactNoted'] });
      const r = runner(projection, { store: slowPoll, pool, idleCheckpointMs: 200 });
      r.start();
      await waitFor(() => r.current.state === 'live', 'the runner to go live');
      const before = commits;
      const started = Date.now();
      let last = await appendOne('SomethingElse');
      while (Date.now() - started < 1_000) last = await appendOne('SomethingElse');
      await new CheckpointWait(db.app, { pollMs: 2, timeoutMs: 1_000 }).until(
        'test.counting',
        last,
      );
      // One commit for each 200 ms at most (and the one at the end), not one per append.
      expect(commits - before).toBeLessThanOrEqual(7);
      expect(commits - before).toBeGreaterThan(0);
      expect((await counts()).rows).toBe(0);
    });

    it('retries a failed batch even when nothing more is appended', async () => {
      const projection = new CountingProjection();
      const r = runner(projection, { store: slowPoll });
      r.start();
      await waitFor(() => r.current.state === 'live', 'the runner to go live');
      projection.failuresLeft = 1;
      await appendOne();
      await waitFor(async () => (await counts()).events >= 1, 'the retried event');
      expect(projection.failuresLeft).toBe(0);
      expect(await counts()).toEqual({ rows: 1, applied: 1, events: 1 });
    });
  });

  it('catches up in full batches while the next ones are read', async () => {
    await appendMany(10, 5);
    const projection = new CountingProjection();
    const r = runner(projection);
    r.start();
    await waitFor(async () => (await counts()).events >= 50, 'all 50 events');
    await waitFor(() => r.current.state === 'live', 'the runner to catch up');
    expect(projection.batchSizes.reduce((a, b) => a + b, 0)).toBe(50);
    expect(Math.max(...projection.batchSizes)).toBeLessThanOrEqual(7);
    // 50 events at 7 a batch: 8 batches; a page already read never trickles in one by one.
    expect(projection.batchSizes.length).toBeLessThanOrEqual(9);
  });

  it('lets a batch being written finish before stop() answers, and commits nothing after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inApply = new Promise<void>((resolve) => (entered = resolve));
    const projection = new CountingProjection();
    const gated: Projection = {
      name: projection.name,
      apply: async (events, tx) => {
        entered();
        await gate;
        await projection.apply(events, tx);
      },
    };
    await appendMany(1, 3);
    const r = runner(gated);
    r.start();
    await inApply;
    let stopped = false;
    const stopping = r.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    release();
    await stopping;
    const checkpoint = await new CheckpointStore(db.app).read('test.counting');
    expect(await counts()).toEqual({ rows: 1, applied: 3, events: 3 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await new CheckpointStore(db.app).read('test.counting')).toEqual(checkpoint);
  });
});
