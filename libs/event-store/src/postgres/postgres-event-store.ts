import { Client, DatabaseError, type ClientBase, type Pool, type PoolClient } from 'pg';
import { ChannelListener } from '@beecastle/database';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewDataKey,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  StoresDataKeysWithAppends,
  SubscribeToAllOptions,
  Subscription,
} from '../event-store.port';
import { validateAppend } from '../append-validation';
import { EventStoreError } from '../errors';
import {
  appendEvents,
  appendEventsToStreams,
  readStreamHead,
  validateDataKeys,
} from './append-events';
import { CommitNotifier } from './commit-notifier';
import { GroupCommit, type GroupCommitOptions, type GroupCommitStats } from './group-commit';
import { EVENTS_CHANNEL } from './events-channel';
import { PostgresSubscription } from './postgres-subscription';
import { readAllEvents, readStreamEvents } from './read-events';

export interface PostgresEventStoreOptions {
  /** Where the LISTEN connection goes; default: the pool's own connection settings. */
  readonly listenConnectionString?: string;
  /** How often a subscription looks for new events when no NOTIFY wakes it. */
  readonly pollIntervalMs?: number;
  /** Rows per query when paging through the log. */
  readonly pageSize?: number;
  /**
   * How long `readAll` and a subscription's `caughtUp` wait for older transactions that still hide
   * events committed before the call (readers only see below the snapshot xmin). 0: never wait.
   */
  readonly inFlightWaitMs?: number;
  /**
   * Group commit of appends made while others are in flight (group-commit.ts); `false` sends every
   * append on its own.
   */
  readonly groupCommit?: GroupCommitOptions | false;
}

const DEFAULT_POLL_INTERVAL_MS = 300;
const DEFAULT_IN_FLIGHT_WAIT_MS = 2_000;
// Measured on a cold read of ~700-byte events: a page of about 1,000 still dies young in V8's
// nursery; much larger pages get copied by the scavenger and run a fifth slower.
const DEFAULT_PAGE_SIZE = 1_000;
const MAX_PAGE_SIZE = 50_000;

/**
 * The event log in PostgreSQL (schema: the EventLog migration). An append is one statement; appends
 * made while others are in flight share one (group-commit.ts); reads page through the pool.
 * `withClient` runs appends and reads on a connection the caller controls,
 * inside the caller's transaction.
 */
export class PostgresEventStore implements EventStore, StoresDataKeysWithAppends {
  private readonly listener: ChannelListener;
  private readonly subscriptions = new Set<PostgresSubscription>();
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private readonly inFlightWaitMs: number;
  private readonly notifier: CommitNotifier;
  private readonly groupCommit: GroupCommit | undefined;
  private closed = false;
  // After a conflict surfaced by the unique index, the caller's transaction is aborted: ask the pool.
  private readonly readHead = (stream: string) => readStreamHead(this.pool, stream);

  constructor(
    private readonly pool: Pool,
    options: PostgresEventStoreOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.inFlightWaitMs = options.inFlightWaitMs ?? DEFAULT_IN_FLIGHT_WAIT_MS;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > MAX_PAGE_SIZE) {
      throw new RangeError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    if (!(this.pollIntervalMs > 0)) throw new RangeError('pollIntervalMs must be positive');
    const listenConnectionString = options.listenConnectionString;
    this.notifier = new CommitNotifier(pool);
    if (options.groupCommit !== false) {
      this.groupCommit = new GroupCommit(
        {
          alone: (stream, events, appendOptions, keys) =>
            this.appendAlone(stream, events, appendOptions, keys),
          onConnection: (work) => this.onConnection(work),
        },
        options.groupCommit,
      );
    }
    this.listener = new ChannelListener(
      EVENTS_CHANNEL,
      () =>
        new Client({
          ...(listenConnectionString ? { connectionString: listenConnectionString } : pool.options),
          keepAlive: true,
        }),
    );
  }

  async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    const result = this.groupCommit
      ? await this.groupCommit.append(stream, events, options)
      : await this.appendAlone(stream, events, options);
    // Validated by now: every event names the stream's organisation.
    this.notifier.notify(events[0].metadata.organisationId);
    return result;
  }

  /** What group commit has done so far (tests, benchmarks); undefined when it is off. */
  get groupCommitStats(): Readonly<GroupCommitStats> | undefined {
    return this.groupCommit?.stats;
  }

  private appendAlone(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
    keys: readonly NewDataKey[] = [],
  ): Promise<AppendResult> {
    return this.onConnection((client) =>
      appendEvents(client, stream, events, options, this.readHead, keys),
    );
  }

  /**
   * The first data keys of subjects stored with the events (migration DataKeysWithAppends), for
   * the encryption layer when its key store is this database. One stream goes through group
   * commit as appendToStream does, so that creates share commits.
   */
  async appendToStreamsWithDataKeys(
    appends: readonly StreamAppend[],
    keys: readonly NewDataKey[],
  ): Promise<AppendResult[]> {
    if (keys.length === 0) return this.appendToStreams(appends);
    if (appends.length !== 1 || !this.groupCommit) {
      const { results, organisationIds } = await this.onConnection((client) =>
        appendEventsToStreams(client, appends, this.readHead, keys),
      );
      for (const organisationId of new Set(organisationIds)) this.notifier.notify(organisationId);
      return results;
    }
    const [{ stream, events, expectedRevision }] = appends;
    const organisationId = validateAppend(stream, events);
    validateDataKeys(keys, [organisationId]);
    const result = await this.groupCommit.append(stream, events, { expectedRevision }, keys);
    this.notifier.notify(organisationId);
    return [result];
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    const { results, organisationIds } = await this.onConnection((client) =>
      appendEventsToStreams(client, appends, this.readHead),
    );
    for (const organisationId of new Set(organisationIds)) this.notifier.notify(organisationId);
    return results;
  }

  /**
   * A pooled connection for one autocommit statement. Unlike `pool.query`, which closes the
   * connection on any error, a statement the server refused (a wrong expected version, above all)
   * gives the connection back for reuse: a conflict must not cost the next append a new connection
   * and its authentication.
   */
  private onConnection<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    // The callback form of connect, as pool.query itself uses: the promise form costs the
    // single writer a measurable share of its rate.
    return new Promise<T>((resolve, reject) => {
      this.pool.connect((connectError, client, release) => {
        if (connectError || !client) {
          reject(connectError ?? new Error('No connection from the pool'));
          return;
        }
        work(client).then(
          (result) => {
            release();
            resolve(result);
          },
          (error: unknown) => {
            // Our own errors are refusals checked before the statement or translated from one the
            // server answered with ERROR; FATAL and PANIC end the session, and anything else
            // leaves it in doubt.
            const refusedStatement =
              error instanceof EventStoreError ||
              (error instanceof DatabaseError && error.severity === 'ERROR');
            release(
              refusedStatement
                ? undefined
                : error instanceof Error
                  ? error
                  : new Error(String(error)),
            );
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      });
    });
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return readStreamEvents(this.pool, stream, options, this.pageSize);
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return readAllEvents(this.pool, options, this.pageSize, this.inFlightWaitMs);
  }

  /**
   * The same store on one connection: appends and reads join whatever transaction the caller
   * holds open on it. An append must still be the transaction's first write. Subscriptions keep
   * using the pool (a transaction would pin their snapshot).
   */
  withClient(client: ClientBase): EventStore {
    const pageSize = this.pageSize;
    return {
      appendToStream: async (stream, events, options) => {
        const result = await appendEvents(client, stream, events, options, this.readHead);
        await CommitNotifier.notifyAtCommit(client, events[0].metadata.organisationId);
        return result;
      },
      appendToStreams: async (appends) => {
        const { results, organisationIds } = await appendEventsToStreams(
          client,
          appends,
          this.readHead,
        );
        await CommitNotifier.notifyAtCommit(client, ...new Set(organisationIds));
        return results;
      },
      readStream: (stream, options = {}) => readStreamEvents(client, stream, options, pageSize),
      readAll: (options = {}) => readAllEvents(client, options, pageSize, 0),
      subscribeToAll: (options) => this.subscribeToAll(options),
      close: () => Promise.resolve(),
    };
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    const subscription = new PostgresSubscription(
      {
        db: this.pool,
        pageSize: this.pageSize,
        pollIntervalMs: this.pollIntervalMs,
        inFlightWaitMs: this.inFlightWaitMs,
        // An empty payload, like a (re)start of the session, means "anything may have changed".
        listen: (handler) => this.listener.add((payload) => handler(payload || undefined)),
        onClose: (s) => this.subscriptions.delete(s),
      },
      options,
    );
    if (this.closed) void subscription.close();
    else this.subscriptions.add(subscription);
    return subscription;
  }

  /** Ends subscriptions and the LISTEN connection; the pool belongs to the caller. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.notifier.drain();
    await this.listener.close();
  }
}
