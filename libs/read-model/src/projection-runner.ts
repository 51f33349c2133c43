import { createHash } from 'node:crypto';
import { Client, escapeLiteral, type Pool, type PoolClient } from 'pg';
import {
  comparePositions,
  type EventStore,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '@beecastle/event-store';
import { CheckpointStore } from './checkpoint-store';
import type { Projection, ProjectionTransaction } from './projection';

export interface ProjectionRunnerOptions {
  readonly pool: Pool;
  readonly store: EventStore;
  /** A connection string for the session that holds the leadership lock. */
  readonly lockConnectionString: string;
  readonly maxBatch?: number;
  /** Least time between two commits that only move the checkpoint (no events to apply). */
  readonly idleCheckpointMs?: number;
  /** How often a standby instance tries to take over. */
  readonly standbyRetryMs?: number;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly state: 'starting' | 'standby' | 'catching_up' | 'live' | 'stopped' | 'failed';
  readonly checkpoint: Position | null;
  readonly lastError?: string;
}

function lockKey(name: string): bigint {
  return createHash('sha256').update(`projection:${name}`).digest().readBigInt64BE(0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one projection: only while it holds the projection's advisory lock (so a second instance
 * waits as a standby), from its checkpoint, writing each batch and the checkpoint in one
 * transaction with compare-and-set. A crash loses nothing: the batch and its checkpoint commit
 * together or not at all, and delivery resumes strictly after the last committed checkpoint.
 */
export class ProjectionRunner {
  private readonly checkpoints: CheckpointStore;
  private readonly maxBatch: number;
  private readonly idleCheckpointMs: number;
  private stopping = false;
  private subscription?: Subscription;
  private lockClient?: Client;
  private wake?: () => void;
  private loop?: Promise<void>;
  private status: ProjectionStatus;

  constructor(
    private readonly projection: Projection,
    private readonly options: ProjectionRunnerOptions,
  ) {
    this.checkpoints = new CheckpointStore(options.pool);
    this.maxBatch = options.maxBatch ?? 500;
    this.idleCheckpointMs = options.idleCheckpointMs ?? 100;
    this.status = { name: projection.name, state: 'starting', checkpoint: null };
  }

  get current(): ProjectionStatus {
    return this.status;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.subscription?.close();
    await this.loop;
    this.status = { ...this.status, state: 'stopped' };
  }

  private log(message: string, fields: Record<string, unknown> = {}): void {
    this.options.log?.(message, { projection: this.projection.name, ...fields });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        if (await this.lead()) await this.follow();
        else await this.pause(this.options.standbyRetryMs ?? 2000);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.status = { ...this.status, state: 'failed', lastError: message };
        this.log('projection failed; retrying', { error: message });
        await this.pause(1000);
      } finally {
        await this.releaseLead();
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    await Promise.race([sleep(ms), new Promise<void>((resolve) => (this.wake = resolve))]);
  }

  private async lead(): Promise<boolean> {
    const client = new Client({
      connectionString: this.options.lockConnectionString,
      application_name: `beecastle-projector-${this.projection.name}`,
    });
    client.on('error', () => undefined); // a lost session ends leadership; the CAS keeps us honest
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      lockKey(this.projection.name).toString(),
    ]);
    if (!rows[0].ok) {
      await client.end();
      if (this.status.state !== 'standby') this.log('another instance leads; standing by');
      this.status = { ...this.status, state: 'standby' };
      return false;
    }
    this.lockClient = client;
    return true;
  }

  private async releaseLead(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    // Closing the session releases its advisory lock.
    if (client) await client.end().catch(() => undefined);
  }

  private async follow(): Promise<void> {
    const checkpoint = await this.checkpoints.read(this.projection.name);
    this.status = { name: this.projection.name, state: 'catching_up', checkpoint };
    this.log('leading; resuming', { from: `${checkpoint.commit}/${checkpoint.prepare}` });
    const subscription = this.options.store.subscribeToAll({
      fromPosition: checkpoint,
      filter: this.projection.eventTypes ? { eventTypes: this.projection.eventTypes } : undefined,
    });
    this.subscription = subscription;
    const pipeline = new CommitPipeline(checkpoint, {
      maxBatch: this.maxBatch,
      idleCheckpointMs: this.idleCheckpointMs,
      commit: (batch, from, to) => this.commit(batch, from, to),
      // A failed commit must end the loop below even when no message is coming.
      onFailure: () => void subscription.close(),
      onLive: () => (this.status = { ...this.status, state: 'live' }),
    });
    try {
      for await (const message of subscription) {
        if (this.stopping || pipeline.failed) break;
        if (message.kind === 'event') pipeline.event(message.event);
        else pipeline.position(message.position, message.kind === 'caughtUp');
        const room = pipeline.room();
        if (room) await room;
      }
    } finally {
      this.subscription = undefined;
      await subscription.close();
      await pipeline.settle();
    }
  }

  private async commit(
    batch: readonly RecordedEvent[],
    from: Position,
    to: Position,
  ): Promise<Position> {
    const client = await this.options.pool.connect();
    const tx = new BatchTransaction(client);
    try {
      if (batch.length > 0) await this.projection.apply(batch, tx);
      // Sent behind the deferred writes without waiting for them: on the pipelining pool the
      // writes and the commit share a round trip. Should a write fail, the commit's statements
      // fail too (the transaction is aborted) and the write's error is the one reported.
      const committed = this.checkpoints.advanceAndCommit(
        client,
        this.projection.name,
        from,
        to,
        await tx.openingStatements(),
      );
      committed.catch(() => undefined);
      const failed = await tx.deferredFailure();
      if (failed !== undefined) throw failed;
      await committed;
    } catch (error) {
      // A deferred write that failed is the cause of whatever failed after it.
      const cause = (await tx.deferredFailure()) ?? error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw cause;
    } finally {
      client.release();
    }
    this.status = { ...this.status, checkpoint: to };
    return to;
  }
}

// Asynchronous commit: a crash of the database may lose the last few batches, but each with its
// checkpoint (the WAL keeps transactions whole and in order), so they are projected again from
// the log. It takes the WAL flush out of every batch's latency.
const BEGIN = 'BEGIN; SET LOCAL synchronous_commit TO off';

/**
 * A batch's transaction, opened by its first statement rather than in a round trip of its own:
 * with the first organisation's setting, or before whatever the projection sends first (pg sends
 * a client's queries in order), or with the checkpoint if the batch writes nothing. Each round
 * trip counts: in the API's process each waits for a turn of a busy event loop.
 */
class BatchTransaction implements ProjectionTransaction {
  private opened: Promise<unknown> | undefined;
  private readonly writes: Promise<unknown>[] = [];

  constructor(private readonly raw: PoolClient) {}

  defer(write: Promise<unknown>): void {
    // Awaited by deferredFailure(); until then a failure must not count as unhandled.
    write.catch(() => undefined);
    this.writes.push(write);
  }

  /** The first deferred write that failed, once all have answered; undefined if none did. */
  async deferredFailure(): Promise<Error | undefined> {
    for (const result of await Promise.allSettled(this.writes)) {
      if (result.status !== 'rejected') continue;
      const reason: unknown = result.reason;
      return reason instanceof Error ? reason : new Error(String(reason));
    }
    return undefined;
  }

  get client(): PoolClient {
    if (!this.opened) {
      this.opened = this.raw.query(BEGIN);
      // Awaited before the checkpoint; a projection's own query fails first in any case.
      this.opened.catch(() => undefined);
    }
    return this.raw;
  }

  async forOrganisation(organisationId: string): Promise<void> {
    if (this.opened) {
      await this.raw.query(`SELECT set_config('app.org_id', $1, true)`, [organisationId]);
    } else {
      // Not waited for: the projection's next statement goes behind it on the same connection
      // (on the pipelining pool, in the same round trip), and fails if it did; openingStatements
      // waits for it before the commit.
      this.opened = this.raw.query(
        `${BEGIN}; SELECT set_config('app.org_id', ${escapeLiteral(organisationId)}, true)`,
      );
      this.opened.catch(() => undefined);
    }
  }

  /** What the checkpoint's statement must be preceded by: BEGIN, unless it has been sent. */
  async openingStatements(): Promise<string> {
    if (!this.opened) return `${BEGIN}; `;
    await this.opened;
    return '';
  }
}

interface CommitPipelineOptions {
  readonly maxBatch: number;
  readonly idleCheckpointMs: number;
  commit(batch: readonly RecordedEvent[], from: Position, to: Position): Promise<Position>;
  onFailure(): void;
  onLive(): void;
}

/**
 * Decouples reading from writing: the subscription's messages are taken as they come while at
 * most one batch commits, and each commit takes whatever arrived meanwhile (up to maxBatch). So
 * under a steady trickle an event waits for at most the commit in flight and its own, never for a
 * batch to fill; while catching up, batches stay full and the next page is read and decrypted
 * during the commit. Commits follow one another, each from the position the last one reached, so
 * the compare-and-set chain is the same as one at a time.
 */
class CommitPipeline {
  private pending: RecordedEvent[] = [];
  // The furthest position delivered (an event, or a "nothing more up to here" message).
  private delivered: Position;
  private committed: Position;
  private liveAt: Position | undefined;
  // Set and cleared synchronously with the loop's last check, so no message can slip between.
  private draining = false;
  private running: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private closing = false;
  private lastCommitAt = 0;
  private arrived: (() => void) | undefined;
  private progressed: (() => void)[] = [];

  constructor(
    from: Position,
    private readonly options: CommitPipelineOptions,
  ) {
    this.delivered = from;
    this.committed = from;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  event(event: RecordedEvent): void {
    this.pending.push(event);
    this.delivered = event.position;
    // An event to apply cuts short the wait of a checkpoint-only commit.
    this.arrived?.();
    this.kick();
  }

  position(position: Position, caughtUp: boolean): void {
    if (comparePositions(position, this.delivered) > 0) this.delivered = position;
    if (caughtUp) {
      this.liveAt = this.delivered;
      this.checkLive();
    }
    this.kick();
  }

  /**
   * Back-pressure: while two batches wait to be written, a promise the reader awaits until the
   * next commit; otherwise nothing, so taking a buffered message stays a microtask or two.
   */
  room(): Promise<void> | undefined {
    if (this.pending.length < 2 * this.options.maxBatch || !this.draining) return undefined;
    return new Promise<void>((resolve) => this.progressed.push(resolve)).then(() => this.room());
  }

  /** Lets the commit in flight finish (a stopping leader keeps its lock until then). */
  async settle(): Promise<void> {
    this.closing = true;
    this.arrived?.();
    await this.running;
    if (this.failure) throw this.failure.error;
  }

  private kick(): void {
    if (this.draining || this.failure) return;
    this.draining = true;
    this.running = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (!this.closing && comparePositions(this.delivered, this.committed) > 0) {
        // A page already read is taken whole rather than its first event alone; a full batch
        // need not wait.
        if (this.pending.length < this.options.maxBatch) await this.readerSettled();
        if (this.pending.length === 0 && !(await this.quietFor(this.options.idleCheckpointMs))) {
          continue;
        }
        if (this.closing) break;
        const batch = this.pending.splice(0, this.options.maxBatch);
        const to = this.pending.length > 0 ? batch[batch.length - 1].position : this.delivered;
        this.committed = await this.options.commit(batch, this.committed, to);
        this.lastCommitAt = Date.now();
        this.checkLive();
        this.wakeReader();
      }
    } catch (error) {
      this.failure = { error };
      this.options.onFailure();
    } finally {
      this.draining = false;
      this.wakeReader();
    }
  }

  /**
   * Lets the reader take what is already buffered (promise callbacks only) before a batch is cut:
   * done once the pending events stop growing for a few microtask hops. A macrotask here (such as
   * setImmediate) would cost a whole turn of a busy event loop whenever the subscription
   * delivered from one: a few milliseconds of lag under load.
   */
  private async readerSettled(): Promise<void> {
    let seen = this.pending.length;
    for (let quiet = 0; quiet < 16 && this.pending.length < this.options.maxBatch;) {
      await Promise.resolve();
      if (this.pending.length === seen) quiet += 1;
      else [seen, quiet] = [this.pending.length, 0];
    }
  }

  private checkLive(): void {
    if (this.liveAt && comparePositions(this.committed, this.liveAt) >= 0) {
      this.liveAt = undefined;
      this.options.onLive();
    }
  }

  private wakeReader(): void {
    for (const resolve of this.progressed.splice(0)) resolve();
  }

  /**
   * Moving the checkpoint past events the projection does not take is not urgent (redelivery
   * after a crash filters them out again), and under load it would be a write transaction per
   * page read: so at most one such commit per `ms`. Answers false if an event came meanwhile.
   */
  private async quietFor(ms: number): Promise<boolean> {
    const wait = this.lastCommitAt + ms - Date.now();
    if (wait <= 0) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.arrived = undefined;
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.arrived = done;
    });
    return this.pending.length === 0;
  }
}
