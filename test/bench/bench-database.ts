import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../libs/database/src/database-runtime';
import { startEmbeddedPostgres } from '../../libs/database/src/embedded-postgres';
import { runMigrations } from '../../libs/database/src/migrate';
import { provisionDatabase } from '../../libs/database/src/provision';
import {
  LOOPBACK_NAMES,
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
} from '../../libs/runtime/src/local-certificate-authority';

export interface BenchDatabase {
  readonly appUrl: string;
  readonly ownerUrl: string;
  readonly superuserUrl: string;
  /** How every connection goes, for the output: the baselines pay it as the product does. */
  readonly transport: string;
  close(): Promise<void>;
}

/**
 * PostgreSQL settings from a benchmark's environment variable, `name=value[,name=value…]`: plain
 * names and values only, as they go into `ALTER SYSTEM` or onto the server's command line.
 */
export function settingsFromEnv(variable: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const pair of (process.env[variable] ?? '').split(',').filter((p) => p.trim() !== '')) {
    const match = /^\s*([a-z_]+)\s*=\s*([A-Za-z0-9_.]+)\s*$/.exec(pair);
    if (!match) throw new Error(`${variable}: "${pair}" is not name=value`);
    settings[match[1]] = match[2];
  }
  return settings;
}

/**
 * A throwaway embedded PostgreSQL with the production schema and roles, the same settings as
 * `npm start` (fsync and synchronous_commit on; TLS only, verified against a local CA: every URL
 * carries sslmode=verify-full), so absolute figures are comparable to a laptop run and ratios to
 * the baseline are meaningful anywhere. The baselines connect the same way, so they pay for TLS
 * too.
 */
export async function startBenchDatabase(): Promise<BenchDatabase> {
  const workDir = await mkdtemp(join(tmpdir(), 'beecastle-bench-'));
  // As openDatabase does for `npm start`: a local CA, and a certificate from it for loopback.
  const ca = await ensureLocalCertificateAuthority(join(workDir, 'tls'));
  const certificate = await ensureServerCertificate(ca, 'postgres', LOOPBACK_NAMES);
  const server = await startEmbeddedPostgres({
    clusterDir: join(workDir, 'cluster'),
    secretsDir: join(workDir, 'secrets'),
    port: await freePort(),
    persistent: false,
    tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile: ca.certFile },
    // BENCH_PG_START: settings given at the server's start, after the product's own (so they win):
    // the A/B of a default the product sets at start, such as `wal_init_zero=on`.
    settings: settingsFromEnv('BENCH_PG_START'),
  });
  if (process.env.BENCH_PG_START)
    console.log(`PostgreSQL started with ${process.env.BENCH_PG_START} (BENCH_PG_START)`);
  const { ownerUrl, appUrl } = await provisionDatabase(
    server.superuserUrl,
    'beecastle_bench',
    join(workDir, 'secrets'),
  );
  await runMigrations(ownerUrl);
  return {
    appUrl,
    ownerUrl,
    superuserUrl: server.superuserUrl,
    transport: 'TLS only (hostssl), sslmode=verify-full against a local CA, as npm start',
    close: async () => {
      await server.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function rate(count: number, ms: number): number {
  return (count * 1000) / ms;
}

/** The V8 heap flags this process runs with (as `npm start` passes them), for a benchmark's header. */
export function heapFlags(): string {
  return process.execArgv.filter((flag) => flag.startsWith('--max')).join(' ');
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-GB', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

/** p50 and p99 of a set of durations in milliseconds (sorts a copy). */
export function latencySummary(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** The inspector's sampling profiler on this thread; `stop` writes what it saw of `what`. */
export async function startProfile(what: string): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  return {
    stop: async (file) => {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
      console.log(`   CPU profile of ${what} written to ${file}`);
    },
  };
}

export interface ProcCpu {
  /** The process's or thread's name. */
  readonly name: string;
  /** User and system CPU time so far. */
  readonly seconds: number;
}

/** A process's or thread's CPU time so far, from its /proc stat file (Linux); undefined if gone. */
export async function procCpu(statPath: string): Promise<ProcCpu | undefined> {
  const stat = await readFile(statPath, 'utf8').catch(() => '');
  if (!stat) return undefined;
  const ticks = 100; // USER_HZ
  // Fields after the parenthesised name: state is the 3rd, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11]) + Number(fields[12])) / ticks,
  };
}
