/* Benchmark of the PostgreSQL event log. Run: npm run bench:event-store
 * Every figure is printed beside a baseline measured in the same run, because ratios survive noisy
 * machines and absolute numbers do not. Sizes can be scaled down with BENCH_SCALE=0.1 for a smoke run. */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import {
  PostgresEventStore,
  START,
  WrongExpectedVersionError,
  streamName,
  type NewEvent,
} from '../../libs/event-store/src';
import { createPool } from '../../libs/database/src/pool';
import { fmt, percentile, rate, startBenchDatabase } from './bench-database';

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const SINGLE_APPENDS = Math.round(3000 * SCALE);
const CONCURRENT_APPENDS = Math.round(8000 * SCALE);
const CONTENTION_MS = Math.round(5000 * Math.max(SCALE, 0.2));
const COLD_READ_EVENTS = Math.round(1_000_000 * SCALE);
const LAG_MS = Math.round(5000 * Math.max(SCALE, 0.2));
const WRITERS = 8;

const organisationId = randomUUID();
// A realistic contact event: ~400 bytes of JSON data, ~230 bytes of metadata.
const data = Buffer.from(
  JSON.stringify({
    firstName: 'Ada',
    lastName: 'Lovelace',
    emails: [{ address: 'ada@example.com', label: 'work' }],
    phones: [{ number: '+442071234567', label: 'mobile' }],
    company: 'Analytical Engines Ltd',
    jobTitle: 'Mathematician',
    address: { line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
    tags: ['vip', 'engineering', 'london'],
    notes: 'First programmer. Prefers email. '.repeat(3),
  }),
);

function newEvent(): NewEvent {
  return {
    eventId: randomUUID(),
    type: 'ContactCreated',
    schemaVersion: 1,
    data,
    metadata: {
      organisationId,
      actorId: '6f1c2b7e-2f4e-4a47-9a59-0c5f8b1d2e3a',
      actorType: 'user',
      requestId: randomUUID(),
      correlationId: randomUUID(),
      clientIp: '203.0.113.7',
    },
  };
}
const metadataBytes = Buffer.from(JSON.stringify(newEvent().metadata));

async function runWorkers(
  workers: number,
  total: number,
  work: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < total; i = next++) await work(i);
    }),
  );
  return performance.now() - started;
}

function line(label: string, value: string, baseline: string, ratio: string, target: string): void {
  console.log(
    `${label.padEnd(44)} ${value.padStart(14)} ${baseline.padStart(14)} ${ratio.padStart(7)} ${target}`,
  );
}

async function main(): Promise<void> {
  console.log(
    `bench:event-store  scale=${SCALE}  node ${process.version}  ${new Date().toISOString()}`,
  );
  const db = await startBenchDatabase();
  const owner = new Pool({ connectionString: db.ownerUrl, max: 2 });
  owner.on('error', () => undefined); // the server stopping at the end terminates idle clients
  const app = createPool(db.appUrl, { applicationName: 'bench', max: WRITERS + 2 });
  const store = new PostgresEventStore(app, { listenConnectionString: db.appUrl });
  try {
    await owner.query(
      'CREATE TABLE bench_baseline (payload bytea NOT NULL, metadata bytea NOT NULL)',
    );
    await owner.query('GRANT INSERT, SELECT ON bench_baseline TO beecastle_app');
    const baselineInsert = async (): Promise<void> => {
      await app.query('INSERT INTO bench_baseline (payload, metadata) VALUES ($1, $2)', [
        data,
        metadataBytes,
      ]);
    };

    console.log(
      `payload ${data.length} B data + ${metadataBytes.length} B metadata; durability: fsync on, synchronous_commit on`,
    );
    line('figure', 'value', 'baseline', 'ratio', 'target');

    // 1. One writer, one event per append, each to a new stream.
    const baseSingle = await runWorkers(1, SINGLE_APPENDS, baselineInsert);
    const single = await runWorkers(1, SINGLE_APPENDS, async () => {
      await store.appendToStream(
        streamName('contact', organisationId, randomUUID()),
        [newEvent()],
        {
          expectedRevision: 'no_stream',
        },
      );
    });
    const singleRate = rate(SINGLE_APPENDS, single);
    const baseSingleRate = rate(SINGLE_APPENDS, baseSingle);
    line(
      '1 writer, new streams (appends/s)',
      fmt(singleRate),
      fmt(baseSingleRate),
      fmt(singleRate / baseSingleRate, 2) + 'x',
      '>= 0.6x',
    );

    // 2. Eight concurrent writers.
    const baseConcurrent = await runWorkers(WRITERS, CONCURRENT_APPENDS, baselineInsert);
    const concurrent = await runWorkers(WRITERS, CONCURRENT_APPENDS, async () => {
      await store.appendToStream(
        streamName('contact', organisationId, randomUUID()),
        [newEvent()],
        {
          expectedRevision: 'no_stream',
        },
      );
    });
    const concRate = rate(CONCURRENT_APPENDS, concurrent);
    const baseConcRate = rate(CONCURRENT_APPENDS, baseConcurrent);
    line(
      `${WRITERS} writers, new streams (appends/s)`,
      fmt(concRate),
      fmt(baseConcRate),
      fmt(concRate / baseConcRate, 2) + 'x',
      '>= 0.5x',
    );

    // 3. Eight writers contending on one stream with expected revisions.
    const hot = streamName('contact', organisationId, randomUUID());
    await store.appendToStream(hot, [newEvent()], { expectedRevision: 'no_stream' });
    let successes = 0;
    let conflicts = 0;
    const deadline = performance.now() + CONTENTION_MS;
    const contentionStart = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        let known = 0n;
        while (performance.now() < deadline) {
          try {
            known = (await store.appendToStream(hot, [newEvent()], { expectedRevision: known }))
              .nextExpectedRevision;
            successes += 1;
          } catch (error) {
            if (!(error instanceof WrongExpectedVersionError) || error.actual === 'no_stream')
              throw error;
            conflicts += 1;
            known = error.actual;
          }
        }
      }),
    );
    const contentionMs = performance.now() - contentionStart;
    const contendedRate = rate(successes, contentionMs);
    line(
      `${WRITERS} writers, one stream (successful/s)`,
      fmt(contendedRate),
      fmt(baseConcRate),
      fmt(contendedRate / baseConcRate, 2) + 'x',
      `conflict rate ${fmt((100 * conflicts) / (successes + conflicts), 1)} %`,
    );

    // 4. Cold read of the whole log into Node, decoded, through a fresh store and connection.
    const existing = Number(
      (await owner.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n,
    );
    const toGenerate = Math.max(0, COLD_READ_EVENTS - existing);
    const fillStart = performance.now();
    await generateEvents(owner, toGenerate);
    console.log(
      `(generated ${fmt(toGenerate)} events in ${fmt((performance.now() - fillStart) / 1000, 1)} s; log holds ${fmt(existing + toGenerate)})`,
    );
    await owner.query('VACUUM ANALYZE events');
    const coldPool = createPool(db.appUrl, { applicationName: 'bench-cold', max: 2 });
    const coldStore = new PostgresEventStore(coldPool, { listenConnectionString: db.appUrl });
    let peakRss = process.memoryUsage().rss;
    const rssTimer = setInterval(
      () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
      50,
    );
    // Cold: the first pass, fresh process state and store. The store's work is the figure: every
    // event decoded into a RecordedEvent (envelope, metadata parsed, payload bytes). A second pass
    // adds what a projector would do next, JSON.parse of each payload, for comparison.
    const coldStart = performance.now();
    const read = await readWholeLog(coldStore, false);
    const coldMs = performance.now() - coldStart;
    const parsedStart = performance.now();
    const parsedRead = await readWholeLog(coldStore, true);
    const parsedMs = performance.now() - parsedStart;
    clearInterval(rssTimer);
    await coldStore.close();
    // Baseline: the same rows, same page size, straight from node-postgres with no decoding.
    const baseColdStart = performance.now();
    const baseRead = await rawRead(coldPool);
    const baseColdMs = performance.now() - baseColdStart;
    await coldPool.end();
    const coldRate = rate(read, coldMs);
    const baseColdRate = rate(baseRead, baseColdMs);
    line(
      `cold read of ${fmt(read)} events (events/s)`,
      fmt(coldRate),
      fmt(baseColdRate),
      fmt(coldRate / baseColdRate, 2) + 'x',
      '>= 150,000/s',
    );
    console.log(
      `   second pass, also JSON.parse of every payload: ${fmt(rate(parsedRead, parsedMs))} events/s`,
    );
    console.log(
      `   peak RSS during the reads: ${fmt(peakRss / 2 ** 20)} MiB (heap after: ${fmt(process.memoryUsage().heapUsed / 2 ** 20)} MiB)`,
    );

    // 5. Subscription lag while four writers run.
    const acked = new Map<string, number>();
    const delivered = new Map<string, number>();
    // From the current head, exclusive: 'end' is resolved by the subscription itself, and an append
    // racing its first query could land just before it and be counted as missed.
    const [head] = await store.readAll({
      fromPosition: 'end',
      direction: 'backwards',
      maxCount: 1,
    });
    const live = store.subscribeToAll({ fromPosition: head.position, filter: { organisationId } });
    const consumer = (async () => {
      for await (const message of live) {
        if (message.kind === 'event') delivered.set(message.event.eventId, performance.now());
      }
    })();
    const lagDeadline = performance.now() + LAG_MS;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() < lagDeadline) {
          const event = newEvent();
          await store.appendToStream(streamName('contact', organisationId, randomUUID()), [event], {
            expectedRevision: 'no_stream',
          });
          acked.set(event.eventId, performance.now());
        }
      }),
    );
    const drainUntil = performance.now() + 5000;
    while (delivered.size < acked.size && performance.now() < drainUntil)
      await new Promise((r) => setTimeout(r, 20));
    await live.close();
    await consumer;
    const lags = [...acked]
      .map(([id, at]) => Math.max(0, (delivered.get(id) ?? Infinity) - at))
      .sort((a, b) => a - b);
    const missing = lags.filter((l) => !Number.isFinite(l)).length;
    line(
      `subscription lag, 4 writers (ms, ${fmt(acked.size)} events)`,
      `p50 ${fmt(percentile(lags, 50), 1)}`,
      '',
      '',
      `p99 ${fmt(percentile(lags, 99), 1)} ms (target < 50)${missing ? `; ${missing} NOT DELIVERED` : ''}`,
    );
  } finally {
    await store.close();
    await app.end();
    await owner.end();
    await db.close();
  }
}

/** Reads the log from the start until caught up; counts events (and parses payloads if asked). */
async function readWholeLog(store: PostgresEventStore, parsePayloads: boolean): Promise<number> {
  let read = 0;
  const subscription = store.subscribeToAll({ fromPosition: START });
  for await (const message of subscription) {
    if (message.kind === 'caughtUp') break;
    if (message.kind !== 'event') continue;
    if (parsePayloads) {
      const payload = JSON.parse(Buffer.from(message.event.data).toString('utf8')) as {
        firstName?: string;
      };
      if (payload.firstName === undefined) throw new Error('Unexpected payload shape');
    }
    read += 1;
  }
  await subscription.close();
  return read;
}

/** Fills the log quickly with well-formed rows (100 events a stream), as the owner, in SQL. */
async function generateEvents(owner: Pool, count: number): Promise<void> {
  const batch = 100_000;
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    await owner.query(
      `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data, metadata,
                           actor_id, request_id, recorded_at, prev_hash, hash)
       SELECT $1::uuid, 'contact-' || $1 || '.' || ((($4::bigint + g) / 100))::text, ($4::bigint + g) % 100,
              gen_random_uuid(), 'ContactCreated', 1, $2::bytea, $3::bytea,
              'bench', gen_random_uuid()::text, clock_timestamp(), '\\x00'::bytea, '\\x00'::bytea
         FROM generate_series(0, $5::int - 1) AS g`,
      [randomUUID(), data, metadataBytes, 1_000_000_000 + done, n],
    );
  }
}

async function rawRead(pool: Pool): Promise<number> {
  let commit = '0';
  let seq = '0';
  let total = 0;
  for (;;) {
    const { rows } = await pool.query<{ tx: string; seq: string }>(
      `SELECT tx_id::text AS tx, global_seq::text AS seq, stream_id, revision, event_id, type, schema_version,
              data, metadata, recorded_at, prev_hash, hash
         FROM events
        WHERE (tx_id, global_seq) > ($1::xid8, $2::bigint) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY tx_id, global_seq LIMIT 5000`,
      [commit, seq],
    );
    if (rows.length === 0) return total;
    total += rows.length;
    commit = rows[rows.length - 1].tx;
    seq = rows[rows.length - 1].seq;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
