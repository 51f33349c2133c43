/* Benchmark of the PostgreSQL event log. Run: npm run bench:event-store
 * Every figure is printed beside a baseline measured in the same run, because ratios survive noisy
 * machines and absolute numbers do not. Sizes can be scaled down with BENCH_SCALE=0.1 for a smoke run.
 * The appends and the cold read are also measured through the encryption layer as the product
 * wires it (EncryptingEventStore, Keyring, PostgresKeyStore, dataKeySubject: a data key per
 * contact, made on its first event), beside the plain figure of the same run: target a cost of at
 * most 15 %. BENCH_COLD_EVENTS_PER_CONTACT (default `10,1`) lists how many events share a data
 * key in each encrypted log read cold: a contact with some history, and one event each as a bulk
 * import leaves them (bench:api's seeding). */
import { randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import {
  LocalMasterKeyProvider,
  associatedData,
  open,
  seal,
  type Keyring,
} from '../../libs/crypto/src';
import {
  PostgresEventStore,
  START,
  WrongExpectedVersionError,
  encodeMetadata,
  streamName,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type NewEvent,
  type Position,
  type RecordedEvent,
  type StreamAppend,
  type Subscription,
} from '../../libs/event-store/src';
import { createPool } from '../../libs/database/src/pool';
import { encryptEventStore, openEventLog } from '../../libs/read-model/src/event-log';
import { fmt, percentile, procCpu, rate, startBenchDatabase, startProfile } from './bench-database';

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const SINGLE_APPENDS = Math.round(3000 * SCALE);
const CONCURRENT_APPENDS = Math.round(8000 * SCALE);
const CONTENTION_MS = Math.round(5000 * Math.max(SCALE, 0.2));
const COLD_READ_EVENTS = Math.round(1_000_000 * SCALE);
const LAG_MS = Math.round(5000 * Math.max(SCALE, 0.2));
const WRITERS = 8;
// Events a contact (so a data key) in the encrypted logs read cold, one read each: a contact
// with some history, and one event each as a bulk import leaves them (bench:api's seeding).
const COLD_EVENTS_PER_CONTACT = (process.env.BENCH_COLD_EVENTS_PER_CONTACT ?? '10,1')
  .split(',')
  .map(Number);
// BENCH_PROFILE=<file>.cpuprofile: a CPU profile of the encrypted cold read.
const PROFILE = process.env.BENCH_PROFILE;
// Issue 5: encryption may cost at most this share of the plain throughput.
const ENCRYPTION_COST_TARGET = 0.15;

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

/** The encrypted figure beside the plain one of the same run: the ratio and the cost. */
function encryptedLine(label: string, encrypted: number, plain: number): void {
  const cost = 1 - encrypted / plain;
  line(
    `  ${label}`,
    fmt(encrypted),
    `${fmt(plain)} plain`,
    fmt(encrypted / plain, 2) + 'x',
    `cost ${fmt(100 * cost, 1)} % (target <= ${fmt(100 * ENCRYPTION_COST_TARGET)} %) ${cost <= ENCRYPTION_COST_TARGET ? 'ok' : 'MISSED'}`,
  );
}

/** A pair's plain figure against its baseline, then the encrypted one against the plain. */
function pairLines(
  label: string,
  count: number,
  pair: { plainMs: number; encryptedMs: number },
  baselineRate: number,
  target: string,
): void {
  const plain = rate(count, pair.plainMs);
  line(label, fmt(plain), fmt(baselineRate), fmt(plain / baselineRate, 2) + 'x', target);
  encryptedLine('encrypted, same run', rate(count, pair.encryptedMs), plain);
}

/**
 * Plain and encrypted halves in the order plain, encrypted, encrypted, plain, so that whatever
 * drifts over the run (the table and its indexes grow, the machine's load) falls on both alike.
 */
async function runPair(
  workers: number,
  total: number,
  plain: (i: number) => Promise<void>,
  encrypted: (i: number) => Promise<void>,
): Promise<{ plainMs: number; encryptedMs: number }> {
  const first = Math.ceil(total / 2);
  const second = total - first;
  const plainFirst = await runWorkers(workers, first, plain);
  const encryptedFirst = await runWorkers(workers, first, encrypted);
  const encryptedSecond = await runWorkers(workers, second, encrypted);
  const plainSecond = await runWorkers(workers, second, plain);
  return { plainMs: plainFirst + plainSecond, encryptedMs: encryptedFirst + encryptedSecond };
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
  // The product's wiring: openEventLog, as the API, the projector and the CLI open the log (the
  // adapter under the encryption layer, the key store on the same pool, listening for destructions
  // so that data keys may be cached), on the same pool as the plain store.
  const masterKey = new LocalMasterKeyProvider(randomBytes(32), 'bench: random, this run only');
  const encryptedLog = openEventLog(app, { masterKey, listenConnectionString: db.appUrl });
  const encrypted = encryptedLog.store;
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
    console.log(`connections: ${db.transport} (the baselines too)`);
    console.log(
      'encrypted: AES-256-GCM, a data key per contact (made with its first event, as a create does), the organisation key wrapped by a master key',
    );
    line('figure', 'value', 'baseline', 'ratio', 'target');

    // Each append goes to a new contact stream: encrypted, that is a new data key, as a create.
    const appendTo = (target: EventStore) => async (): Promise<void> => {
      await target.appendToStream(
        streamName('contact', organisationId, randomUUID()),
        [newEvent()],
        { expectedRevision: 'no_stream' },
      );
    };
    // Connections, statements, JIT, and the organisation's key (made once, on its first use).
    await runWorkers(1, 50, appendTo(store));
    await runWorkers(1, 50, appendTo(encrypted));

    // 1. One writer, one event per append, each to a new stream.
    const baseSingle = await runWorkers(1, SINGLE_APPENDS, baselineInsert);
    const singlePair = await runPair(1, SINGLE_APPENDS, appendTo(store), appendTo(encrypted));
    pairLines(
      '1 writer, new streams (appends/s)',
      SINGLE_APPENDS,
      singlePair,
      rate(SINGLE_APPENDS, baseSingle),
      '>= 0.6x',
    );

    // 2. Eight concurrent writers.
    const baseConcurrent = await runWorkers(WRITERS, CONCURRENT_APPENDS, baselineInsert);
    const concurrentPair = await runPair(
      WRITERS,
      CONCURRENT_APPENDS,
      appendTo(store),
      appendTo(encrypted),
    );
    const baseConcRate = rate(CONCURRENT_APPENDS, baseConcurrent);
    pairLines(
      `${WRITERS} writers, new streams (appends/s)`,
      CONCURRENT_APPENDS,
      concurrentPair,
      baseConcRate,
      '>= 0.5x',
    );

    // 2b. The common write after a create: an event appended to a contact that has one already,
    // its key in the keyring's memory (a thousand contacts, well inside its cache), 8 writers.
    // The plain and encrypted logs each get contacts of their own, made through themselves.
    const existing = async (target: EventStore): Promise<string[]> => {
      const streams = Array.from({ length: 1_000 }, () =>
        streamName('contact', organisationId, randomUUID()),
      );
      await runWorkers(WRITERS, streams.length, (i) =>
        target
          .appendToStream(streams[i], [newEvent()], { expectedRevision: 'no_stream' })
          .then(() => undefined),
      );
      return streams;
    };
    const [plainContacts, encryptedContacts] = [await existing(store), await existing(encrypted)];
    const appendToExisting =
      (target: EventStore, streams: readonly string[]) =>
      async (i: number): Promise<void> => {
        await target.appendToStream(streams[i % streams.length], [newEvent()], {
          expectedRevision: 'any',
        });
      };
    const existingPair = await runPair(
      WRITERS,
      CONCURRENT_APPENDS,
      appendToExisting(store, plainContacts),
      appendToExisting(encrypted, encryptedContacts),
    );
    pairLines(
      `${WRITERS} writers, existing contacts (appends/s)`,
      CONCURRENT_APPENDS,
      existingPair,
      baseConcRate,
      '',
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
    const logged = Number(
      (await owner.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n,
    );
    const toGenerate = Math.max(0, COLD_READ_EVENTS - logged);
    const fillStart = performance.now();
    await generateEvents(owner, toGenerate);
    console.log(
      `(generated ${fmt(toGenerate)} events in ${fmt((performance.now() - fillStart) / 1000, 1)} s; log holds ${fmt(logged + toGenerate)})`,
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

    // 4b. The same cold read of as many events again, encrypted, through a fresh store, key store
    // and keyring: no key cached, each data key read from the key store and unwrapped as its
    // events come. Once for each shape asked for (events a contact, so a data key each): the
    // encrypted events are added after everything else and read from there.
    for (const perContact of COLD_EVENTS_PER_CONTACT) {
      const [before] = await store.readAll({
        fromPosition: 'end',
        direction: 'backwards',
        maxCount: 1,
      });
      const encryptedFillStart = performance.now();
      const contacts = await generateEncryptedEvents(owner, encryptedLog.keyring, read, perContact);
      console.log(
        `(generated ${fmt(read)} encrypted events, ${fmt(perContact)} a contact, ${fmt(contacts)} data keys, in ${fmt((performance.now() - encryptedFillStart) / 1000, 1)} s)`,
      );
      await owner.query('VACUUM ANALYZE events');
      await owner.query('VACUUM ANALYZE data_keys');
      const cold = await coldEncryptedRead(db.appUrl, masterKey, before.position);
      encryptedLine(
        `encrypted, ${fmt(perContact)} event${perContact === 1 ? '' : 's'} a key, keys cold`,
        rate(cold.read, cold.ms),
        coldRate,
      );
      console.log(
        `   ${fmt(cold.read)} events; the same rows without decrypting (plain store): ${fmt(rate(cold.rawRead, cold.rawMs))} events/s, so decryption's own cost ${fmt(100 * (1 - cold.rawMs / cold.ms), 1)} %`,
      );
      console.log(
        `   waiting for keys (key store and unwraps): ${fmt(cold.keyMs / 1000, 2)} s of ${fmt(cold.ms / 1000, 2)} s, ${fmt(cold.keyCalls)} lookups; peak RSS ${fmt(cold.peakRss / 2 ** 20)} MiB`,
      );
      console.log(
        `   of which begun a batch ahead: ${fmt(cold.aheadCalls)} lookups, the reader still waiting ${fmt(cold.aheadWaitMs / 1000, 2)} s for them at their batch's turn`,
      );
      coldFloor(cold);
    }

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
    await encryptedLog.close();
    await store.close();
    await app.end();
    await owner.end();
    await db.close();
  }
}

/** Reads the log from the start until caught up; counts events (and parses payloads if asked). */
async function readWholeLog(
  store: EventStore,
  parsePayloads: boolean,
  fromPosition: Position = START,
): Promise<number> {
  let read = 0;
  const subscription = store.subscribeToAll({ fromPosition });
  for await (const message of subscription) {
    if (message.kind === 'caughtUp') break;
    if (message.kind !== 'event') continue;
    // The encrypted appends of figures 1 and 2 are in the log too, as ciphertext: not JSON.
    if (parsePayloads && message.event.metadata.keyId === undefined) {
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

/**
 * A cold read of the encrypted events after `after`, as a process that has just started would
 * make it (the projector rebuilding, say): its own pool, store, key store and keyring, nothing
 * cached. Then the same rows again through the plain store, which hands the ciphertext over as it
 * is: the difference is what decryption and its keys cost.
 */
async function coldEncryptedRead(
  appUrl: string,
  masterKey: LocalMasterKeyProvider,
  after: Position,
): Promise<{
  read: number;
  ms: number;
  keyMs: number;
  keyCalls: number;
  aheadWaitMs: number;
  aheadCalls: number;
  rawRead: number;
  rawMs: number;
  /** CPU seconds of the encrypted read and of the plain one: this process's and its sessions'. */
  cpu: ReadCpu;
  rawCpu: ReadCpu;
  peakRss: number;
}> {
  const pool = createPool(appUrl, { applicationName: COLD_READ_APPLICATION, max: 2 });
  // As the projector opens it: payloads opened on a thread (BENCH_DECRYPT_ON_THREAD=0: here).
  const log = openEventLog(pool, {
    masterKey,
    listenConnectionString: appUrl,
    decryptOnThread: process.env.BENCH_DECRYPT_ON_THREAD !== '0',
  });
  const inner = new PostgresEventStore(pool, { listenConnectionString: appUrl });
  // Time spent waiting for keys (key store and unwraps), for where the cost goes.
  let keyMs = 0;
  let keyCalls = 0;
  const keysForReading = log.keyring.keysForReading.bind(log.keyring);
  log.keyring.keysForReading = async (organisationId, keyIds) => {
    const started = performance.now();
    try {
      return await keysForReading(organisationId, keyIds);
    } finally {
      keyMs += performance.now() - started;
      keyCalls += 1;
    }
  };
  // Lookups begun a batch ahead (their time is in keyMs too, in the background): how long the
  // reader still waited for them when the batch's turn came. A batch opened on the thread asks
  // twice, once ahead (in the background, for the early opening) and once at its turn; a batch
  // opened in place asks only at its turn. So each lookup's calls after its first are waits at the
  // turn, and a lookup called once was waited for at its turn.
  const aheadLookups: number[][] = [];
  const keysForReadingAhead = log.keyring.keysForReadingAhead.bind(log.keyring);
  log.keyring.keysForReadingAhead = (organisationId, keyIds) => {
    const later = keysForReadingAhead(organisationId, keyIds);
    const waits: number[] = [];
    aheadLookups.push(waits);
    return async () => {
      const started = performance.now();
      try {
        return await later();
      } finally {
        waits.push(performance.now() - started);
      }
    };
  };
  const waitedAtTurn = () =>
    aheadLookups.reduce(
      (sum, waits) =>
        sum + (waits.length === 1 ? waits[0] : waits.slice(1).reduce((a, b) => a + b, 0)),
      0,
    );
  try {
    let peakRss = process.memoryUsage().rss;
    const rssTimer = setInterval(
      () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
      50,
    );
    const profiler = PROFILE ? await startProfile('the encrypted cold read') : undefined;
    const cpuMeter = await readCpuMeter(pool);
    const started = performance.now();
    const read = await readWholeLog(log.store, false, after);
    const ms = performance.now() - started;
    const cpu = await cpuMeter.stop();
    if (profiler) await profiler.stop(PROFILE ?? '');
    clearInterval(rssTimer);
    const rawCpuMeter = await readCpuMeter(pool);
    const rawStarted = performance.now();
    const rawRead = await readWholeLog(inner, false, after);
    const rawMs = performance.now() - rawStarted;
    const rawCpu = await rawCpuMeter.stop();
    return {
      cpu,
      rawCpu,
      read,
      ms,
      keyMs,
      keyCalls,
      aheadWaitMs: waitedAtTurn(),
      aheadCalls: aheadLookups.length,
      rawRead,
      rawMs,
      peakRss: Math.max(peakRss, process.memoryUsage().rss),
    };
  } finally {
    await log.close();
    await inner.close();
    await pool.end();
  }
}

/**
 * The least the encrypted cold read could cost on this machine, from what was measured: the plain
 * read of the same rows (its wall time and CPU, Node's and PostgreSQL's) plus decryption's own CPU
 * for every event, spread perfectly over the machine's cores. Above 15 %, no code above
 * Node's crypto can meet the target here: it takes more cores.
 */
function coldFloor(cold: Awaited<ReturnType<typeof coldEncryptedRead>>): void {
  const cores = availableParallelism();
  const perEvent = decryptionMicros();
  const decryptSeconds = (cold.read * perEvent) / 1e6;
  const rawSeconds = cold.rawMs / 1000;
  const rawCpu = cold.rawCpu.node + cold.rawCpu.database;
  const bestSeconds = Math.max(rawSeconds, (rawCpu + decryptSeconds) / cores);
  const floor = 1 - rawSeconds / bestSeconds;
  console.log(
    `   CPU: encrypted ${fmt(cold.cpu.node, 1)} s here + ${fmt(cold.cpu.database, 1)} s PostgreSQL in ${fmt(cold.ms / 1000, 1)} s; plain ${fmt(cold.rawCpu.node, 1)} s + ${fmt(cold.rawCpu.database, 1)} s in ${fmt(rawSeconds, 1)} s`,
  );
  // Near 100 %, the reader's thread is what the encrypted read waits on, not the cores.
  console.log(
    `   the reader's thread busy ${fmt(100 * cold.cpu.readerBusy)} % of the encrypted read, ${fmt(100 * cold.rawCpu.readerBusy)} % of the plain one`,
  );
  console.log(
    `   the least it could cost on ${cores} cores: decryption alone ${fmt(perEvent, 2)} µs an event (AES-256-GCM open in Node's crypto, measured here), ${fmt(decryptSeconds, 1)} s of CPU beside the plain read's ${fmt(rawCpu, 1)} s, perfectly spread: ${fmt(100 * floor, 1)} % ${floor > ENCRYPTION_COST_TARGET ? '(above the target: more cores needed)' : ''}`,
  );
}

interface ReadCpu {
  readonly node: number;
  readonly database: number;
  /** The share of the read's wall time the reader's own thread (this event loop) was busy. */
  readonly readerBusy: number;
}

const COLD_READ_APPLICATION = 'bench-cold-encrypted';

/**
 * CPU seconds from now to `stop`: this process's (every thread, the decryption worker's too) and
 * the PostgreSQL sessions of the cold read's pool (a session that starts meanwhile counts whole).
 */
async function readCpuMeter(pool: Pool): Promise<{ stop(): Promise<ReadCpu> }> {
  const sessions = async (): Promise<Map<number, number>> => {
    const { rows } = await pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [COLD_READ_APPLICATION],
    );
    const seconds = new Map<number, number>();
    for (const { pid } of rows) {
      const cpu = await procCpu(`/proc/${pid}/stat`);
      if (cpu) seconds.set(pid, cpu.seconds);
    }
    return seconds;
  };
  const before = await sessions();
  const node = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return {
    stop: async () => {
      const used = process.cpuUsage(node);
      const readerBusy = performance.eventLoopUtilization(loop).utilization;
      let database = 0;
      for (const [pid, seconds] of await sessions()) database += seconds - (before.get(pid) ?? 0);
      return { node: (used.user + used.system) / 1e6, database, readerBusy };
    },
  };
}

/**
 * What decryption alone costs an event on this machine, in µs: AES-256-GCM `open` of a payload
 * the size of the benchmark's, with its associated data built as the encryption layer builds it,
 * in a loop on this thread. No key lookup, no unwrap, no hand-over: the least a read pays.
 */
function decryptionMicros(samples = 50_000): number {
  const key = randomBytes(32);
  const stream = streamName('contact', organisationId, randomUUID());
  const eventId = randomUUID();
  const context = () =>
    associatedData(
      'beecastle/event/v1',
      organisationId,
      stream,
      eventId,
      'ContactCreated',
      1,
      'k:1',
    );
  const sealed = seal(key, data, context());
  for (let i = 0; i < 5_000; i++) open(key, sealed, context());
  const started = performance.now();
  for (let i = 0; i < samples; i++) open(key, sealed, context());
  return ((performance.now() - started) * 1000) / samples;
}

/**
 * Hands over what the encryption layer would append, instead of appending it: the product's own
 * encryption (keys from the real key store) without a million single appends.
 */
class CapturingStore implements EventStore {
  captured: StreamAppend[] = [];

  appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    return this.appendToStreams([
      { stream, events, expectedRevision: options.expectedRevision },
    ]).then(([result]) => result);
  }

  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.captured.push(...appends);
    return Promise.resolve(
      appends.map((a) => ({
        nextExpectedRevision: BigInt(a.events.length - 1),
        position: { commit: 0n, prepare: 0n },
      })),
    );
  }

  readStream(): Promise<RecordedEvent[]> {
    return Promise.reject(new Error('CapturingStore only captures appends'));
  }

  readAll(): Promise<RecordedEvent[]> {
    return Promise.reject(new Error('CapturingStore only captures appends'));
  }

  subscribeToAll(): Subscription {
    throw new Error('CapturingStore only captures appends');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Fills the log with `count` events encrypted by the product's encryption layer (a data key per
 * contact, `perContact` events each), written as the owner in batches. Answers how many contacts
 * (data keys) that made.
 */
async function generateEncryptedEvents(
  owner: Pool,
  keyring: Keyring,
  count: number,
  perContact: number,
): Promise<number> {
  const organisation = randomUUID();
  const capture = new CapturingStore();
  const encrypting = encryptEventStore(capture, keyring);
  // An append takes at most 1,000 events: five of them to an INSERT.
  const contactsPerAppend = Math.max(1, Math.floor(1_000 / perContact));
  let contacts = 0;
  let encryptMs = 0;
  let insertMs = 0;
  for (let done = 0; done < count;) {
    capture.captured = [];
    for (let a = 0; a < 5 && done < count; a++) {
      const appends: StreamAppend[] = [];
      for (let c = 0; c < contactsPerAppend && done < count; c++) {
        const n = Math.min(perContact, count - done);
        const events = Array.from({ length: n }, () => {
          const event = newEvent();
          return { ...event, metadata: { ...event.metadata, organisationId: organisation } };
        });
        appends.push({
          stream: streamName('contact', organisation, randomUUID()),
          events,
          expectedRevision: 'no_stream',
        });
        done += n;
        contacts += 1;
      }
      const started = performance.now();
      await encrypting.appendToStreams(appends);
      encryptMs += performance.now() - started;
    }
    const rows = capture.captured.flatMap(({ stream, events }) =>
      events.map((event, revision) => ({ stream, revision, event })),
    );
    const started = performance.now();
    await owner.query(
      `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data, metadata,
                           actor_id, request_id, recorded_at, prev_hash, hash)
       SELECT $1::uuid, r.stream_id, r.revision, r.event_id::uuid, r.type, 1, r.data, r.metadata,
              'bench', gen_random_uuid()::text, clock_timestamp(), '\\x00'::bytea, '\\x00'::bytea
         FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])
              AS r(stream_id, revision, event_id, type, data, metadata)`,
      [
        organisation,
        rows.map((r) => r.stream),
        rows.map((r) => r.revision),
        rows.map((r) => r.event.eventId),
        rows.map((r) => r.event.type),
        rows.map((r) => Buffer.from(r.event.data)),
        rows.map((r) => encodeMetadata(r.event)),
      ],
    );
    insertMs += performance.now() - started;
  }
  console.log(
    `   (encryption ${fmt(encryptMs / 1000, 1)} s, inserts ${fmt(insertMs / 1000, 1)} s)`,
  );
  return contacts;
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
