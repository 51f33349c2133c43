import type { Pool } from 'pg';
import type { Keyring, MasterKeyProvider } from '@beecastle/crypto';
import { createPool } from '@beecastle/database';
import type { EventStore } from '@beecastle/event-store';
import { openEventLog } from './event-log';
import type { Projection } from './projection';
import { ProjectionRunner, type ProjectionStatus } from './projection-runner';

export interface Projector {
  statuses(): ProjectionStatus[];
  stop(): Promise<void>;
}

export interface ProjectorOptions {
  readonly pool: Pool;
  readonly store: EventStore;
  readonly lockConnectionString: string;
  readonly projections: readonly Projection[];
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Tails the log into every registered read model, one runner each, so a slow projection never
 * holds another back. Used by `apps/projector` and, under `npm start`, inside the API process.
 */
export function startProjector(options: ProjectorOptions): Projector {
  const names = new Set<string>();
  const runners = options.projections.map((projection) => {
    if (names.has(projection.name)) throw new Error(`Two projections named ${projection.name}`);
    names.add(projection.name);
    const runner = new ProjectionRunner(projection, options);
    runner.start();
    return runner;
  });
  return {
    statuses: () => runners.map((r) => r.current),
    stop: async () => {
      await Promise.all(runners.map((r) => r.stop()));
    },
  };
}

/**
 * The projector as the apps run it: its own small pool and event store on the application role's
 * connection, so projection batches never queue behind API requests; payloads decrypted with keys
 * under `masterKey`, through `keyring` when one is given (inside the API process: the API's own,
 * which already holds the keys of what it has just written). Returns how to stop it.
 */
export function startPostgresProjector(
  databaseUrl: string,
  projections: readonly Projection[],
  log: (message: string, fields?: Record<string, unknown>) => void,
  masterKey: MasterKeyProvider,
  keyring?: Keyring,
  /** `pipelineCommits: false`: batches commit one statement per round trip (for comparison). */
  { pipelineCommits = true }: { readonly pipelineCommits?: boolean } = {},
): { projector: Projector; stop(): Promise<void> } {
  const pool = createPool(databaseUrl, { applicationName: 'beecastle-projector', max: 4 });
  // Batches commit on pipelining connections: a batch's opening and first read, then its writes
  // and its commit, each go out together (two round trips for the commonest batch, not four), which
  // counts in the API's process, where each answer waits for a turn of a busy event loop. The
  // log is read on the other pool: its pages are COPYs, which cannot be pipelined.
  const writePool = createPool(databaseUrl, {
    applicationName: 'beecastle-projector',
    max: 2,
    pipeline: pipelineCommits,
  });
  const eventLog = openEventLog(pool, {
    masterKey,
    keyring,
    listenConnectionString: databaseUrl,
    // A catch-up (a rebuild, an import) reads long runs of the log: their payloads are opened on
    // a thread while the next page is read here.
    decryptOnThread: true,
  });
  const projector = startProjector({
    pool: writePool,
    store: eventLog.store,
    lockConnectionString: databaseUrl,
    projections,
    log,
  });
  return {
    projector,
    stop: async () => {
      await projector.stop();
      await eventLog.close();
      await Promise.all([pool.end(), writePool.end()]);
    },
  };
}
