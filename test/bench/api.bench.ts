/* Benchmark of the contacts API. Run: npm run bench:api (under flock /tmp/beecastle-bench.lock)
 * Every figure is printed beside a baseline measured in the same run on the same embedded
 * PostgreSQL, with the ratio and the target:
 * 1. commands over HTTPS keep-alive from a worker thread, 32 clients each creating a contact and
 *    patching it with the ETag it got, against plain durable single-row INSERTs from a pool of 32
 *    (measured before and after the commands, averaged); the API runs the projector in-process as
 *    `npm start` does;
 * 2. the contacts projection's lag under that load: acknowledgement to checkpoint;
 * 3. contacts seeded across organisations through the import command (no HTTP), the projection's
 *    catch-up, then server-side p99 of get-by-id, search and the next page through the query bus,
 *    against a raw primary-key SELECT, and the read models' size on disk.
 * BENCH_SECONDS (20), BENCH_CONTACTS (1,000,000), BENCH_ORGS (1,000), BENCH_SAMPLES (300) scale it. */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { INestApplication } from '@nestjs/common';
import { Pool } from 'pg';
import { loadConfiguration } from '../../libs/config/src';
import { createPool } from '../../libs/database/src/pool';
import { comparePositions, streamName, type Position } from '../../libs/event-store/src';
import {
  CONTACTS_PROJECTION,
  PROJECTIONS,
  startPostgresProjector,
} from '../../libs/read-model/src';
import { createRootLogger } from '../../libs/runtime/src';
import { createApp } from '../../apps/api/src/create-app';
import { loadTlsMaterial } from '../../apps/api/src/tls/tls-material';
import { seedApiKey, seedMember } from '../e2e/support/identity-fixture';
import { companyName, generateContact, generatePatch, SeededRandom } from './api-contacts';
import {
  runCommandLoad,
  startCheckpointPoller,
  type CheckpointSighting,
  type CommandLoadResult,
} from './api-workers';
import {
  fmt,
  latencySummary,
  rate,
  sleep,
  startBenchDatabase,
  type BenchDatabase,
  type LatencySummary,
} from './bench-database';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '20');
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? '1000000');
const ORGS = Number(process.env.BENCH_ORGS ?? '1000');
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? '300');
const CONCURRENCY = 32;
const POLL_MS = 2;

const TARGETS = {
  commandRatio: 0.25,
  commandP99Ms: 50,
  lagP99Ms: 100,
  seedEventsPerSecond: 10_000,
  getP99Ms: 5,
  searchP99Ms: 20,
  nextPageP99Ms: 10,
} as const;

/** The figures as printed, and every number again for the JSON line at the end. */
class Report {
  private readonly rows: string[][] = [];
  readonly figures: Record<string, number | string> = {};

  constructor() {
    this.print(['figure', 'value', 'baseline', 'ratio', 'target']);
  }

  row(cells: [string, string, string, string, string], figures: Record<string, number> = {}): void {
    this.rows.push(cells);
    Object.assign(this.figures, figures);
    this.print(cells);
  }

  note(text: string): void {
    console.log(`   ${text}`);
  }

  table(): void {
    const widths = [0, 1, 2, 3, 4].map((i) =>
      Math.max(
        ...[['figure', 'value', 'baseline', 'ratio', 'target'], ...this.rows].map(
          (r) => r[i].length,
        ),
      ),
    );
    const cells = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    console.log('');
    console.log(cells(['figure', 'value', 'baseline', 'ratio', 'target']));
    console.log(cells(widths.map((w) => '-'.repeat(w))));
    for (const r of this.rows) console.log(cells(r));
    console.log('');
    console.log(`BENCH_API_JSON ${JSON.stringify(this.figures)}`);
  }

  private print([figure, value, baseline, ratio, target]: string[]): void {
    console.log(
      `${figure.padEnd(46)} ${value.padStart(26)} ${baseline.padStart(26)} ${ratio.padStart(7)}  ${target}`,
    );
  }
}

const mark = (ok: boolean): string => (ok ? '✓' : '✗');
const ms = (n: number): string => `${fmt(n, n < 10 ? 2 : 1)} ms`;
const p50p99 = (l: LatencySummary): string => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}`;
const now = (): number => performance.timeOrigin + performance.now();

function machineLoad(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

interface Harness {
  readonly database: BenchDatabase;
  readonly superuser: Pool;
  readonly app: INestApplication;
  readonly origin: string;
  readonly ca: Buffer;
  readonly report: Report;
}

async function main(): Promise<void> {
  console.log(
    `bench:api  node ${process.version}  ${new Date().toISOString()}  load average ${machineLoad()}`,
  );
  console.log(
    `${CONCURRENCY} HTTPS keep-alive clients for ${SECONDS} s; ${fmt(CONTACTS)} contacts across ${fmt(ORGS)} organisations; ${SAMPLES} query samples each`,
  );
  const database = await startBenchDatabase();
  // Inspection only (event positions, sizes, the raw baseline): the superuser is not bound by RLS.
  const superuser = new Pool({ connectionString: database.superuserUrl, max: 4 });
  superuser.on('error', () => undefined); // the server stopping at the end ends idle clients
  const dataDir = await mkdtemp(join(tmpdir(), 'beecastle-bench-api-'));
  const config = loadConfiguration({ DATA_DIR: dataDir });
  const tls = await loadTlsMaterial(config);
  // Every request line is serialised as in production; only the destination is discarded.
  const logger = createRootLogger('info', { write: () => undefined });
  const app = await createApp({ config, databaseUrl: database.appUrl, tls, logger });
  await app.listen(0, '127.0.0.1');
  const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  // As main.ts does under `npm start`: the projector in the API's process, on its own pool.
  const projector = startPostgresProjector(database.appUrl, PROJECTIONS, (message, fields) => {
    if (message.includes('failed')) console.error(`projector: ${message}`, fields);
  });
  const report = new Report();
  const harness: Harness = {
    database,
    superuser,
    app,
    origin: `https://127.0.0.1:${port}`,
    ca: tls.cert,
    report,
  };
  try {
    await commandThroughput(harness);
    report.table();
  } finally {
    await app.close();
    await projector.stop();
    await superuser.end();
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  console.log(`load average at the end ${machineLoad()}`);
}

/** Figures 1 and 2: commands over HTTPS against plain inserts, and the projection's lag. */
async function commandThroughput(h: Harness): Promise<void> {
  const { report, superuser } = h;
  const seedPool = createPool(h.database.appUrl, { applicationName: 'bench-seed', max: 2 });
  const member = await seedMember(seedPool, 'owner', 'Bench Ltd');
  // An API client: a key with the editor role, the least that may write contacts.
  const { key } = await seedApiKey(seedPool, member.organisationId, member.userId, {
    role: 'editor',
  });
  await seedPool.end();
  const organisationId = member.organisationId;

  const random = new SeededRandom(20_261_125);
  const companies = Array.from({ length: 300 }, () => companyName(random));
  const creates = Array.from({ length: 4096 }, () =>
    JSON.stringify(generateContact(random, companies)),
  );
  const patches = Array.from({ length: 4096 }, () => JSON.stringify(generatePatch(random)));

  // The baseline: a simple table, one durable INSERT a statement, the contact's JSON as the row.
  await superuser.query(
    `CREATE TABLE bench_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body jsonb NOT NULL)`,
  );
  await superuser.query(`GRANT INSERT ON bench_inserts TO beecastle_app`);
  const insertPool = createPool(h.database.appUrl, {
    applicationName: 'bench-baseline',
    max: CONCURRENCY,
  });
  const baseline = async (durationMs: number) => {
    const latencies: number[] = [];
    const started = performance.now();
    const deadline = started + durationMs;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, client) => {
        for (let i = client; performance.now() < deadline; i += CONCURRENCY) {
          const t0 = performance.now();
          await insertPool.query('INSERT INTO bench_inserts (body) VALUES ($1)', [
            creates[i % creates.length],
          ]);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    return { latencies, ms: performance.now() - started };
  };
  const commands = (durationMs: number) =>
    runCommandLoad({
      origin: h.origin,
      ca: h.ca,
      credential: key,
      connections: CONCURRENCY,
      durationMs,
      creates,
      patches,
    });

  try {
    // Warm both paths (JIT, connections, prepared statements) before measuring.
    checkStatuses(await commands(2000));
    await baseline(1000);
    await waitForProjection(superuser, await logHead(superuser), 30_000);

    const before = await baseline((SECONDS * 1000) / 2);
    const poller = startCheckpointPoller(h.database.appUrl, CONTACTS_PROJECTION, POLL_MS);
    const load = await commands(SECONDS * 1000);
    const caughtUpIn = await waitForProjection(superuser, await logHead(superuser), 30_000);
    const { sightings, polls } = await poller.stop();
    const after = await baseline((SECONDS * 1000) / 2);
    checkStatuses(load);

    const baseRate = rate(before.latencies.length + after.latencies.length, before.ms + after.ms);
    const baseLatency = latencySummary([...before.latencies, ...after.latencies]);
    const created = latencySummary(load.createMs);
    const patched = latencySummary(load.patchMs);
    const both = latencySummary([...load.createMs, ...load.patchMs]);
    const createRate = rate(created.count, load.ms);
    const patchRate = rate(patched.count, load.ms);
    const commandRate = createRate + patchRate;
    const ratio = commandRate / baseRate;
    report.row(['POST /v1/contacts (creates/s)', `${fmt(createRate)}/s`, '', '', p50p99(created)], {
      createsPerSecond: createRate,
      createP50Ms: created.p50,
      createP99Ms: created.p99,
    });
    report.row(
      [
        'PATCH /v1/contacts/{id}, If-Match (patches/s)',
        `${fmt(patchRate)}/s`,
        '',
        '',
        p50p99(patched),
      ],
      { patchesPerSecond: patchRate, patchP50Ms: patched.p50, patchP99Ms: patched.p99 },
    );
    report.row(
      [
        `commands/s, ${CONCURRENCY} clients, create + patch`,
        `${fmt(commandRate)}/s`,
        `${fmt(baseRate)} inserts/s`,
        `${fmt(ratio, 2)}x`,
        `≥ ${TARGETS.commandRatio}x ${mark(ratio >= TARGETS.commandRatio)}`,
      ],
      { commandsPerSecond: commandRate, baselineInsertsPerSecond: baseRate, commandRatio: ratio },
    );
    report.row(
      [
        'command latency, create + patch',
        p50p99(both),
        p50p99(baseLatency),
        `${fmt(both.p99 / baseLatency.p99, 1)}x`,
        `p99 < ${TARGETS.commandP99Ms} ms ${mark(both.p99 < TARGETS.commandP99Ms)}`,
      ],
      {
        commandP50Ms: both.p50,
        commandP99Ms: both.p99,
        baselineInsertP50Ms: baseLatency.p50,
        baselineInsertP99Ms: baseLatency.p99,
      },
    );

    const lag = await projectionLag(superuser, organisationId, load, sightings);
    report.row(
      [
        `projection lag, ack → checkpoint (${fmt(lag.count)} cmds)`,
        p50p99(lag),
        '',
        '',
        `p99 < ${TARGETS.lagP99Ms} ms ${mark(lag.p99 < TARGETS.lagP99Ms)}${lag.missing ? `; ${lag.missing} NOT SEEN` : ''}`,
      ],
      { lagP50Ms: lag.p50, lagP99Ms: lag.p99, lagMissing: lag.missing },
    );
    report.note(
      `checkpoint read every ${POLL_MS} ms (${fmt(polls)} reads, ${fmt(sightings.length)} distinct); caught up ${ms(caughtUpIn)} after the last command`,
    );
  } finally {
    await insertPool.end();
  }
}

function checkStatuses(result: CommandLoadResult): void {
  const failed = Object.entries(result.statuses).filter(([key]) => !/ 20[01]$/.test(key));
  if (failed.length > 0)
    throw new Error(
      `Commands failed: ${JSON.stringify(result.statuses)}\n${result.failures.join('\n')}`,
    );
}

/** The last event in the log, by its global order. */
async function logHead(superuser: Pool): Promise<Position> {
  const { rows } = await superuser.query<{ c: string; p: string }>(
    `SELECT tx_id::text AS c, global_seq::text AS p FROM events ORDER BY tx_id DESC, global_seq DESC LIMIT 1`,
  );
  return rows.length === 0
    ? { commit: 0n, prepare: 0n }
    : { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) };
}

async function checkpoint(superuser: Pool): Promise<Position> {
  const { rows } = await superuser.query<{ c: string; p: string }>(
    `SELECT position_commit::text AS c, position_prepare::text AS p FROM projection_checkpoints WHERE projection = $1`,
    [CONTACTS_PROJECTION],
  );
  return rows.length === 0
    ? { commit: 0n, prepare: 0n }
    : { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) };
}

/** Waits until the contacts projection has passed `target`; answers how long that took. */
async function waitForProjection(
  superuser: Pool,
  target: Position,
  timeoutMs: number,
  pollMs = 5,
): Promise<number> {
  const started = performance.now();
  while (comparePositions(await checkpoint(superuser), target) < 0) {
    if (performance.now() - started > timeoutMs)
      throw new Error(`The contacts projection did not catch up within ${timeoutMs} ms`);
    await sleep(pollMs);
  }
  return performance.now() - started;
}

/**
 * For each acknowledged command: its event's position (the contact stream at the acknowledged
 * version, read from the log afterwards), then the first checkpoint sighting at or past it.
 */
async function projectionLag(
  superuser: Pool,
  organisationId: string,
  load: CommandLoadResult,
  sightings: readonly CheckpointSighting[],
): Promise<LatencySummary & { missing: number }> {
  const positions = new Map<string, Position>();
  const { rows } = await superuser.query<{
    stream_id: string;
    revision: string;
    c: string;
    p: string;
  }>(
    `SELECT stream_id, revision::text, tx_id::text AS c, global_seq::text AS p FROM events WHERE org_id = $1`,
    [organisationId],
  );
  for (const row of rows)
    positions.set(`${row.stream_id}@${row.revision}`, {
      commit: BigInt(row.c),
      prepare: BigInt(row.p),
    });
  const lags: number[] = [];
  let missing = 0;
  for (let i = 0; i < load.ackIds.length; i++) {
    const position = positions.get(
      `${streamName('contact', organisationId, load.ackIds[i])}@${load.ackVersions[i]}`,
    );
    const seen = position && firstSightingAtOrAfter(sightings, position);
    if (!seen) {
      missing += 1;
      continue;
    }
    // Seen before the client had its answer: the projection beat the response home; lag 0.
    lags.push(Math.max(0, seen.at - load.ackAt[i]));
  }
  return { ...latencySummary(lags), missing };
}

function firstSightingAtOrAfter(
  sightings: readonly CheckpointSighting[],
  position: Position,
): CheckpointSighting | undefined {
  let low = 0;
  let high = sightings.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (comparePositions(sightings[mid], position) >= 0) high = mid;
    else low = mid + 1;
  }
  return sightings[low];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
