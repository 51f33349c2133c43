import type {
  EventFilter,
  SubscribeToAllOptions,
  Subscription,
  SubscriptionMessage,
} from '../event-store.port';
import { MAX_PREPARE, START, comparePositions, type Position } from '../position';
import type { PoolClient } from 'pg';
import { isPool } from './copy-out';
import type { Queryable } from './event-rows';
import type { WakeHandler } from './events-channel';
import { decodePage, readSubscriptionPage, type RawLogPage } from './read-events';
import {
  endedBefore,
  newestEndedAboveHorizon,
  readSnapshot,
  type Snapshot,
} from './snapshot-horizon';

export interface SubscriptionContext {
  readonly db: Queryable;
  readonly pageSize: number;
  readonly pollIntervalMs: number;
  readonly inFlightWaitMs: number;
  /** Registers for wake-ups from the store's LISTEN connection; returns the unregistration. */
  listen(handler: WakeHandler): () => void;
  onClose(subscription: PostgresSubscription): void;
}

// A NOTIFY that turns up nothing usually means the notifying commit hides behind an older
// transaction, which sends no NOTIFY of its own when it ends if it is not an append or rolls
// back. Until the horizon passes it, look again every few milliseconds (backing off to this).
const MAX_RECHECK_MS = 100;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Reads the log page by page, pulled by the consumer: after a full page, the next one is read while
 * the consumer takes it, and no further until it has been taken, so memory holds two pages at most.
 *
 * A short page means the reader has seen everything below its snapshot's xmin, where every
 * transaction has ended and nothing new can appear. So its position moves to
 * {commit: xmin - 1, prepare: MAX_PREPARE}, past events the filter hid too, and resuming from
 * there (exclusive) misses nothing. It then waits for a NOTIFY of a matching append, or the poll.
 *
 * "Caught up" means every event committed before the subscription was made has been delivered.
 * The snapshot taken then names the newest transaction that had ended; `caughtUp` waits until the
 * horizon has passed it (bounded by `inFlightWaitMs`), since an older transaction still running
 * hides it until then. From 'end', the same snapshot says which transactions had ended: their
 * events are history and are skipped, while those of transactions still running are delivered.
 *
 * A hand-written iterator rather than an async generator: taking a buffered message is then one
 * resolved promise, which matters at hundreds of thousands of events a second.
 */
export class PostgresSubscription implements Subscription, AsyncIterator<SubscriptionMessage> {
  private readonly filter: EventFilter | undefined;
  private buffer: SubscriptionMessage[] = [];
  private index = 0;
  // Callers of next() that found the buffer empty, served in order one after the other.
  private waiting = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private after: Position | undefined;
  private reported: Position | undefined;
  private caughtUp = false;
  private pauseMs = 0;
  private recheckMs = 0;
  // A transaction that ended (a NOTIFY said so) but still hides behind an older running one.
  private hiddenCommit: bigint | undefined;
  private catchUpRecheckMs = 0;
  private closed = false;
  private notified = false;
  private wakeUp: (() => void) | undefined;
  private unlisten: (() => void) | undefined;
  private catchUpDeadline: number | undefined;
  // Taken when the subscription is made, not at the first next(): "end" and "caught up" refer to
  // the moment of the call. Marked handled here; the first next() still sees any failure.
  private readonly snapshot: Promise<Snapshot>;
  private catchUpTarget: bigint | undefined;
  private skipEndedBefore: Snapshot | undefined;
  // The page after a full one, read while the consumer takes that one.
  private prefetched: Promise<RawLogPage> | undefined;
  // A connection of its own while pages come full (catching up): the prefetch must reach the
  // server at once, and the pool hands connections out on process.nextTick, which waits until a
  // consumer looping over buffered messages (all microtasks) has taken the whole page.
  private held: PoolClient | undefined;
  private heldBusy: Promise<unknown> = Promise.resolve();
  private readonly onHeldError = (): void => undefined; // the failed query reports it

  constructor(
    private readonly context: SubscriptionContext,
    private readonly options: SubscribeToAllOptions,
  ) {
    this.filter = options.filter;
    this.unlisten = context.listen((organisationId) => {
      const wanted = this.filter?.organisationId;
      if (organisationId === undefined || wanted === undefined || wanted === organisationId) {
        this.notify();
      }
    });
    this.snapshot = readSnapshot(context.db);
    this.snapshot.catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionMessage> {
    return this;
  }

  next(): Promise<IteratorResult<SubscriptionMessage>> {
    if (this.closed) return Promise.resolve(DONE);
    if (this.waiting === 0 && this.index < this.buffer.length) {
      return Promise.resolve({ done: false, value: this.buffer[this.index++] });
    }
    this.waiting += 1;
    const result = this.queue.then(() => this.nextAfterRefill());
    this.queue = result.then(
      () => (this.waiting -= 1),
      () => (this.waiting -= 1),
    );
    return result;
  }

  async return(): Promise<IteratorResult<SubscriptionMessage>> {
    await this.close();
    return DONE;
  }

  takeBuffered(max: number): SubscriptionMessage[] {
    // Callers of next() still waiting come first: they take the buffer when they resume.
    if (this.closed || this.waiting > 0 || max <= 0) return [];
    const end = Math.min(this.buffer.length, this.index + max);
    const taken = this.buffer.slice(this.index, end);
    this.index = end;
    return taken;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.buffer = [];
      this.prefetched = undefined;
      this.releaseHeld();
      this.unlisten?.();
      this.unlisten = undefined;
      this.context.onClose(this);
      this.wakeUp?.();
    }
    return Promise.resolve();
  }

  private notify(): void {
    this.notified = true;
    this.wakeUp?.();
  }

  private async nextAfterRefill(): Promise<IteratorResult<SubscriptionMessage>> {
    try {
      while (this.index >= this.buffer.length) {
        if (this.closed) return DONE;
        await this.refill();
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.closed) return DONE;
    return { done: false, value: this.buffer[this.index++] };
  }

  /** One step: wait if the last page said there was nothing more, then read a page. */
  private async refill(): Promise<void> {
    const { db, pageSize, pollIntervalMs } = this.context;
    if (this.after === undefined) {
      const snapshot = await this.snapshot;
      const from = this.options.fromPosition ?? 'start';
      if (from === 'end') {
        this.after = { commit: snapshot.xmin - 1n, prepare: MAX_PREPARE };
        this.skipEndedBefore = snapshot;
      } else {
        this.after = from === 'start' ? START : from;
        this.catchUpTarget = newestEndedAboveHorizon(snapshot);
      }
      this.reported = this.after;
    }
    if (this.pauseMs > 0) {
      await this.waitForWake(this.pauseMs);
      this.pauseMs = 0;
      if (this.closed) return;
    }
    const wokenByNotify = this.notified;
    this.notified = false;
    const page = await (this.prefetched ?? this.read());
    this.prefetched = undefined;
    const history = this.skipEndedBefore;
    if (page.last !== undefined) {
      this.after = page.last;
      if (history && this.after.commit >= history.xmax) this.skipEndedBefore = undefined;
    }
    const full = page.count === pageSize;
    if (full && !this.closed) {
      // More is probably waiting: the server reads it while Node decodes this page and the
      // consumer works. One page ahead at most, so memory stays bounded; failures surface at the
      // next refill.
      this.prefetched = this.prefetch();
      this.prefetched.catch(() => undefined);
    }
    const messages: SubscriptionMessage[] = [];
    for (const event of decodePage(page)) {
      if (history && endedBefore(history, event.position.commit)) continue;
      messages.push({ kind: 'event', event });
      this.reported = event.position;
    }
    const delivered = messages.length;
    this.buffer = messages;
    this.index = 0;
    if (full) return;
    this.releaseHeld();

    const horizon: Position = { commit: page.horizon - 1n, prepare: MAX_PREPARE };
    if (comparePositions(horizon, this.after) > 0) this.after = horizon;
    if (!this.caughtUp) {
      const hidden = this.catchUpTarget !== undefined && page.horizon <= this.catchUpTarget;
      if (hidden) this.catchUpDeadline ??= Date.now() + this.context.inFlightWaitMs;
      if (hidden && Date.now() < this.catchUpDeadline!) {
        // Something committed before the call still hides behind an older transaction.
        this.catchUpRecheckMs = Math.min(this.catchUpRecheckMs * 2 || 2, 50);
        this.pauseMs = this.catchUpRecheckMs;
        return;
      }
      this.caughtUp = true;
      this.reported = this.after;
      messages.push({ kind: 'caughtUp', position: this.after });
    } else if (delivered === 0 && comparePositions(this.after, this.reported!) > 0) {
      // Only when this round delivered nothing: a delivered event is progress enough.
      this.reported = this.after;
      messages.push({ kind: 'checkpoint', position: this.after });
    }

    if (wokenByNotify && delivered === 0) {
      const hidden = newestEndedAboveHorizon(await readSnapshot(db));
      if (hidden !== undefined && (this.hiddenCommit ?? -1n) < hidden) this.hiddenCommit = hidden;
    }
    if (this.hiddenCommit !== undefined && page.horizon > this.hiddenCommit) {
      this.hiddenCommit = undefined;
    }
    if (this.hiddenCommit === undefined) {
      this.recheckMs = 0;
      this.pauseMs = pollIntervalMs;
    } else {
      this.recheckMs = Math.min(this.recheckMs * 2 || 2, MAX_RECHECK_MS, pollIntervalMs);
      this.pauseMs = this.recheckMs;
    }
  }

  private read(): Promise<RawLogPage> {
    const { db, pageSize } = this.context;
    const page = readSubscriptionPage(this.held ?? db, this.after!, this.filter, pageSize);
    if (this.held) this.heldBusy = page.catch(() => undefined);
    return page;
  }

  private async prefetch(): Promise<RawLogPage> {
    const { db } = this.context;
    if (this.held === undefined && isPool(db)) {
      const client = await db.connect();
      client.on('error', this.onHeldError);
      this.held = client;
      if (this.closed) {
        this.releaseHeld();
        throw new Error('Subscription closed');
      }
    }
    return this.read();
  }

  private releaseHeld(): void {
    const client = this.held;
    if (client === undefined) return;
    this.held = undefined;
    // The pool drops a connection that failed, so no error needs passing on here.
    void this.heldBusy.then(() => {
      client.removeListener('error', this.onHeldError);
      client.release();
    });
  }

  private waitForWake(ms: number): Promise<void> {
    if (this.notified || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
