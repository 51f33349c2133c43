/* Benchmark of authentication. Run: npm run bench:auth (under flock /tmp/beecastle-bench.lock)
 * Requests/s of GET /v1/me with an access token and with an API key, each beside GET /health/live
 * (no authentication) measured in the same run at the same concurrency over HTTPS keep-alive, and
 * sign-in latency with the production scrypt parameters. The load comes from a worker thread, so
 * the server's event loop is its own. BENCH_SECONDS sets each phase's length (default 3), BENCH_ROUNDS the rounds (3). */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { loadConfiguration } from '../../libs/config/src';
import { createRootLogger } from '../../libs/runtime/src';
import { createPool } from '../../libs/database/src/pool';
import { DEFAULT_SCRYPT, hashPassword } from '../../libs/auth/src';
import { createApp } from '../../apps/api/src/create-app';
import { loadTlsMaterial } from '../../apps/api/src/tls/tls-material';
import { seedApiKey, seedMember } from '../e2e/support/identity-fixture';
import { fmt, heapFlags, percentile, startBenchDatabase, startProfile } from './bench-database';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '3');
const CONCURRENCY = 32;
const LOGINS = Number(process.env.BENCH_LOGINS ?? '60');
// BENCH_PROFILE=<file>: a CPU profile of the server's thread during each credential's first
// measured phase, written to <file>-jwt.cpuprofile and <file>-key.cpuprofile; diagnosis only.
const PROFILE = process.env.BENCH_PROFILE;
const TARGET = 0.7;

/** The load generator: CONCURRENCY loops of GET on one keep-alive pool, counting 2xx answers. */
const LOAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Pool } = require(workerData.undici);
(async () => {
  const { origin, ca, path, headers, connections, durationMs } = workerData;
  const pool = new Pool(origin, { connections, pipelining: 1, connect: { ca } });
  const statuses = {};
  let ok = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const res = await pool.request({ path, method: 'GET', headers });
      await res.body.dump();
      statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
      if (res.statusCode < 300) ok++;
    }
  }));
  const ms = performance.now() - started;
  await pool.close();
  parentPort.postMessage({ ok, ms, statuses });
})().catch((error) => { throw error; });
`;

interface LoadResult {
  readonly ok: number;
  readonly ms: number;
  readonly statuses: Record<string, number>;
}

function load(
  origin: string,
  ca: Buffer,
  path: string,
  headers: Record<string, string>,
  durationMs: number,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_WORKER, {
      eval: true,
      workerData: {
        undici: require.resolve('undici'),
        origin,
        ca: ca.toString(),
        path,
        headers,
        connections: CONCURRENCY,
        durationMs,
      },
    });
    worker.once('message', (result: LoadResult) => {
      const failed = Object.entries(result.statuses).filter(([status]) => Number(status) >= 300);
      if (failed.length > 0)
        reject(new Error(`${path} answered ${JSON.stringify(result.statuses)}`));
      else resolve(result);
    });
    worker.once('error', reject);
  });
}

function line(label: string, value: string, baseline: string, ratio: string, target: string): void {
  console.log(
    `${label.padEnd(48)} ${value.padStart(12)} ${baseline.padStart(12)} ${ratio.padStart(7)} ${target}`,
  );
}

async function main(): Promise<void> {
  console.log(`bench:auth  node ${process.version} ${heapFlags()}  ${new Date().toISOString()}`);
  const database = await startBenchDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'beecastle-bench-auth-'));
  const config = loadConfiguration({ DATA_DIR: dataDir });
  const tls = await loadTlsMaterial(config);
  // Every request line is serialised as in production; only the destination is discarded.
  const logger = createRootLogger('info', { write: () => undefined });
  const app = await createApp({ config, databaseUrl: database.appUrl, tls, logger });
  await app.listen(0, '127.0.0.1');
  const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  const origin = `https://127.0.0.1:${port}`;
  const seedPool = createPool(database.appUrl, { applicationName: 'bench-seed', max: 2 });
  try {
    const member = await seedMember(seedPool, 'owner', 'Bench Ltd');
    // The production hash parameters, so that sign-in latency is what users get.
    await seedPool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [
      member.userId,
      await hashPassword(member.password, DEFAULT_SCRYPT),
    ]);
    const { key } = await seedApiKey(seedPool, member.organisationId, member.userId, {
      role: 'editor',
    });

    const client = new Pool(origin, { connections: 1, connect: { ca: tls.cert } });
    const login = async (): Promise<{ ms: number; accessToken: string }> => {
      const started = performance.now();
      const res = await client.request({
        path: '/v1/auth/token',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: member.email, password: member.password }),
      });
      const body = (await res.body.json()) as { accessToken: string };
      if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}`);
      return { ms: performance.now() - started, accessToken: body.accessToken };
    };
    const { accessToken } = await login();

    console.log(
      `BeeCastle auth benchmark: ${CONCURRENCY} concurrent keep-alive HTTPS connections, ${SECONDS} s a phase`,
    );
    line('', 'req/s', 'baseline', 'ratio', 'target');
    const ms = SECONDS * 1000;
    const health = () => load(origin, tls.cert, '/health/live', {}, ms);
    const auth = (credential: string) =>
      load(origin, tls.cert, '/v1/me', { authorization: `Bearer ${credential}` }, ms);
    // Warm both paths (JIT, connections, prepared statements) before measuring.
    await load(origin, tls.cert, '/health/live', {}, 1000);
    await load(origin, tls.cert, '/v1/me', { authorization: `Bearer ${accessToken}` }, 1000);
    await load(origin, tls.cert, '/v1/me', { authorization: `Bearer ${key}` }, 1000);

    // Alternating rounds, each credential's phase right after its own baseline, and the median
    // ratio: on a shared machine, load from elsewhere shifts both sides of a round alike.
    const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
    for (const [label, credential, name] of [
      ['GET /v1/me, access token (JWT)', accessToken, 'jwt'],
      ['GET /v1/me, API key', key, 'key'],
    ] as const) {
      const results: { rate: number; baseRate: number; ratio: number }[] = [];
      for (let round = 0; round < rounds; round++) {
        const baseline = await health();
        const profile = PROFILE && round === 0 ? await startProfile(label) : undefined;
        const measured = await auth(credential);
        await profile?.stop(`${PROFILE}-${name}.cpuprofile`);
        const baseRate = (baseline.ok * 1000) / baseline.ms;
        const rate = (measured.ok * 1000) / measured.ms;
        results.push({ rate, baseRate, ratio: rate / baseRate });
      }
      results.sort((a, b) => a.ratio - b.ratio);
      const { rate, baseRate, ratio } = results[Math.floor(results.length / 2)];
      line(
        `${label} (median of ${rounds})`,
        fmt(rate),
        fmt(baseRate),
        `${fmt(ratio, 2)}x`,
        `>= ${TARGET}x ${ratio >= TARGET ? 'ok' : 'SHORT'}  [${results.map((r) => fmt(r.ratio, 2)).join(' ')}]`,
      );
    }

    const latencies: number[] = [];
    for (let i = 0; i < LOGINS; i++) latencies.push((await login()).ms);
    latencies.sort((a, b) => a - b);
    const { log2N, r, p } = DEFAULT_SCRYPT;
    console.log(
      `POST /v1/auth/token (scrypt N=2^${log2N}, r=${r}, p=${p}), ${LOGINS} sequential: ` +
        `p50 ${fmt(percentile(latencies, 50), 1)} ms, p99 ${fmt(percentile(latencies, 99), 1)} ms`,
    );
    await client.close();
  } finally {
    await seedPool.end();
    await app.close();
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
