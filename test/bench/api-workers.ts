/* The threads of bench:api that must not share the server's event loop: the HTTPS command load,
 * and the poller that watches the contacts projection's checkpoint. Each is plain JavaScript run by
 * a worker thread, and stamps times as performance.timeOrigin + performance.now(), a clock all
 * threads share, so acknowledgements and checkpoint sightings can be compared afterwards. */
import { Worker } from 'node:worker_threads';

/**
 * Each of `connections` loops creates a contact, then patches it with the ETag the create
 * answered, until the deadline. Every acknowledged command is recorded as (contact id, version,
 * time of the answer) for the projection lag.
 *
 * The loops start WARMUP_MS before the measured window and nothing is recorded until it opens
 * (statuses excepted: a failure during the warm-up still fails the run). A worker thread starts
 * cold, with its HTTP client to load and compile and its TLS connections to open, and its first
 * second's answers measured that start-up, on the same two cores as the server, rather than the
 * server: with `BENCH_DIAGNOSE=1`, about 300 commands over 50 ms in the first two seconds.
 */
const WARMUP_MS = 1000;

const COMMAND_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Pool } = require(workerData.undici);
const WARMUP_MS = ${WARMUP_MS};
(async () => {
  const { origin, ca, credential, connections, durationMs, creates, patches } = workerData;
  const pool = new Pool(origin, { connections, pipelining: 1, connect: { ca } });
  const now = () => performance.timeOrigin + performance.now();
  const headers = { authorization: 'Bearer ' + credential, 'content-type': 'application/json' };
  const createMs = [], patchMs = [], ackIds = [], ackVersions = [], ackAt = [], ackMs = [];
  const statuses = {};
  const failures = [];
  const count = (what, res, text) => {
    const key = what + ' ' + res.statusCode;
    statuses[key] = (statuses[key] || 0) + 1;
    if (res.statusCode >= 300 && failures.length < 5) failures.push(key + ' ' + text.slice(0, 300));
  };
  const started = now() + WARMUP_MS;
  const deadline = started + durationMs;
  const measured = (t0) => t0 >= started;
  const getHeaders = workerData.credential ? { authorization: 'Bearer ' + workerData.credential } : {};
  if (workerData.healthOnly) {
    let ok = 0;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (now() < deadline) {
        const t0 = now();
        const res = await pool.request({ path: workerData.path, method: 'GET', headers: getHeaders });
        count('GET', res, await res.body.text());
        if (res.statusCode === 200 && measured(t0)) ok++;
      }
    }));
    const ms = now() - started;
    await pool.close();
    parentPort.postMessage({ ms, ok, statuses, failures });
    return;
  }
  await Promise.all(Array.from({ length: connections }, async (_, client) => {
    for (let i = client; now() < deadline; i += connections) {
      let t0 = now();
      const created = await pool.request({
        path: '/v1/contacts', method: 'POST', headers, body: creates[i % creates.length],
      });
      let text = await created.body.text();
      let t1 = now();
      count('POST', created, text);
      if (created.statusCode !== 201) continue;
      const { id, version } = JSON.parse(text);
      if (measured(t0)) {
        createMs.push(t1 - t0);
        ackIds.push(id); ackVersions.push(version); ackAt.push(t1); ackMs.push(t1 - t0);
      }
      t0 = now();
      const patched = await pool.request({
        path: '/v1/contacts/' + id, method: 'PATCH',
        headers: { ...headers, 'if-match': created.headers.etag },
        body: patches[i % patches.length],
      });
      text = await patched.body.text();
      t1 = now();
      count('PATCH', patched, text);
      if (patched.statusCode !== 200) continue;
      if (measured(t0)) {
        patchMs.push(t1 - t0);
        ackIds.push(id); ackVersions.push(JSON.parse(text).version); ackAt.push(t1); ackMs.push(t1 - t0);
      }
    }
  }));
  const ms = now() - started;
  await pool.close();
  parentPort.postMessage({ ms, createMs, patchMs, ackIds, ackVersions, ackAt, ackMs, statuses, failures });
})().catch((error) => { throw error; });
`;

export interface CommandLoadResult {
  readonly ms: number;
  readonly createMs: number[];
  readonly patchMs: number[];
  /** One entry per acknowledged command, in the three arrays alike. */
  readonly ackIds: string[];
  readonly ackVersions: number[];
  readonly ackAt: number[];
  /** Each acknowledged command's latency. */
  readonly ackMs: number[];
  readonly statuses: Record<string, number>;
  readonly failures: string[];
}

export interface CommandLoadOptions {
  readonly origin: string;
  readonly ca: Buffer;
  readonly credential: string;
  readonly connections: number;
  readonly durationMs: number;
  /** JSON bodies, used in turn. */
  readonly creates: readonly string[];
  readonly patches: readonly string[];
}

/**
 * The same clients on one GET: `/health/live` by default (no authentication, no database: the
 * HTTPS ceiling, as bench:auth uses it), or `path` with `credential` as a bearer (`/v1/me`: an
 * authenticated request that changes nothing).
 */
export function runHealthLoad(
  options: Omit<CommandLoadOptions, 'credential' | 'creates' | 'patches'> & {
    readonly path?: string;
    readonly credential?: string;
  },
): Promise<{ ms: number; ok: number; statuses: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(COMMAND_WORKER, {
      eval: true,
      workerData: {
        undici: require.resolve('undici'),
        path: '/health/live',
        ...options,
        ca: options.ca.toString(),
        healthOnly: true,
      },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

export function runCommandLoad(options: CommandLoadOptions): Promise<CommandLoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(COMMAND_WORKER, {
      eval: true,
      workerData: { undici: require.resolve('undici'), ...options, ca: options.ca.toString() },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/**
 * Reads the projection's checkpoint every `pollMs` on its own connection and keeps each new value
 * with the time it was seen (the answer's arrival: a sighting is never earlier than the commit).
 */
const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Client } = require(workerData.pg);
(async () => {
  const { connectionString, projection, pollMs } = workerData;
  const client = new Client({ connectionString, application_name: 'bench-checkpoint-poller' });
  await client.connect();
  let stopping = false;
  parentPort.on('message', () => { stopping = true; });
  const sightings = [];
  let last = '';
  let polls = 0;
  while (!stopping) {
    const { rows } = await client.query({
      name: 'checkpoint',
      text: 'SELECT position_commit::text AS c, position_prepare::text AS p FROM projection_checkpoints WHERE projection = $1',
      values: [projection],
    });
    const at = performance.timeOrigin + performance.now();
    polls++;
    if (rows.length > 0 && rows[0].c + '/' + rows[0].p !== last) {
      last = rows[0].c + '/' + rows[0].p;
      sightings.push([at, rows[0].c, rows[0].p]);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  await client.end();
  parentPort.postMessage({ sightings, polls });
})().catch((error) => { throw error; });
`;

export interface CheckpointSighting {
  readonly at: number;
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface CheckpointPoller {
  /** Every distinct checkpoint seen, in order, with the time it was first seen. */
  stop(): Promise<{ sightings: CheckpointSighting[]; polls: number }>;
}

export function startCheckpointPoller(
  connectionString: string,
  projection: string,
  pollMs: number,
): CheckpointPoller {
  const worker = new Worker(CHECKPOINT_WORKER, {
    eval: true,
    workerData: { pg: require.resolve('pg'), connectionString, projection, pollMs },
  });
  const result = new Promise<{ sightings: [number, string, string][]; polls: number }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  // A failure surfaces from stop(); until then it must not count as unhandled.
  result.catch(() => undefined);
  return {
    stop: async () => {
      worker.postMessage('stop');
      const { sightings, polls } = await result;
      // Its message listener would otherwise keep the thread, and the process, alive.
      await worker.terminate();
      return {
        polls,
        sightings: sightings.map(([at, commit, prepare]) => ({
          at,
          commit: BigInt(commit),
          prepare: BigInt(prepare),
        })),
      };
    },
  };
}

/** The projector on a worker thread of its own (api-projector-thread.ts, through ts-node). */
export async function startProjectorThread(
  databaseUrl: string,
  dataDir: string,
): Promise<{ stop(): Promise<void> }> {
  const worker = new Worker(
    `require(${JSON.stringify(require.resolve('ts-node'))}).register({ transpileOnly: true });
     require(${JSON.stringify(require.resolve('tsconfig-paths/register'))});
     require(${JSON.stringify(require.resolve('./api-projector-thread.ts'))});`,
    { eval: true, workerData: { databaseUrl, dataDir } },
  );
  const next = () =>
    new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
  await next();
  return {
    stop: async () => {
      const stopped = next();
      worker.postMessage('stop');
      await stopped;
      await worker.terminate();
    },
  };
}
