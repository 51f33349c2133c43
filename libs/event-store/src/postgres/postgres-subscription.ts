import type {
  EventFilter,
  SubscribeToAllOptions,
  Subscription,
  SubscriptionMessage,
} from '../event-store.port';
import { MAX_PREPARE, START, comparePositions, type Position } from '../position';
import type { Queryable } from './event-rows';
import type { WakeHandler } from './notification-listener';
import { currentHorizon, readSubscriptionPage } from './read-events';

export interface SubscriptionContext {
  readonly db: Queryable;
  readonly pageSize: number;
  readonly pollIntervalMs: number;
  /** Registers for wake-ups from the store's LISTEN connection; returns the unregistration. */
  listen(handler: WakeHandler): () => void;
  onClose(subscription: PostgresSubscription): void;
}

// After a NOTIFY that turned up nothing, look again soon, backing off from 4 to 256 ms: the
// notifying commit is usually just waiting for an older transaction to end, and that one sends no
// NOTIFY of its own when it is not an append or when it rolls back. Later, the poll takes over.
const FIRST_RECHECK_MS = 4;
const LAST_RECHECK_MS = 256;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Reads the log page by page, pulled by the consumer: the next page is fetched only once every
 * message of the previous one has been taken, so memory holds one page at most.
 *
 * A short page means the reader has seen everything below its snapshot's xmin, where every
 * transaction has ended and nothing new can appear. So its position moves to
 * {commit: xmin - 1, prepare: MAX_PREPARE}, past events the filter hid too, and resuming from
 * there (exclusive) misses nothing. It then waits for a NOTIFY of a matching append, or the poll.
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
  private closed = false;
  private notified = false;
  private wakeUp: (() => void) | undefined;
  private unlisten: (() => void) | undefined;
  private readonly start: Promise<Position> | Position;

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
    const from = options.fromPosition ?? 'start';
    if (from === 'start') this.start = START;
    else if (from !== 'end') this.start = from;
    else {
      // "end" means the moment of this call, so the horizon query leaves now rather than at the
      // first next(). It is marked handled here; the first next() still sees any failure.
      const start = currentHorizon(context.db).then((xmin): Position => ({
        commit: xmin - 1n,
        prepare: MAX_PREPARE,
      }));
      start.catch(() => undefined);
      this.start = start;
    }
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

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.buffer = [];
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
      this.after = await this.start;
      this.reported = this.after;
    }
    if (this.pauseMs > 0) {
      await this.waitForWake(this.pauseMs);
      this.pauseMs = 0;
      if (this.closed) return;
    }
    const wokenByNotify = this.notified;
    this.notified = false;
    const page = await readSubscriptionPage(db, this.after, this.filter, pageSize);
    const messages: SubscriptionMessage[] = new Array<SubscriptionMessage>(page.events.length);
    for (let i = 0; i < page.events.length; i++) {
      messages[i] = { kind: 'event', event: page.events[i] };
    }
    if (page.events.length > 0) {
      this.after = page.events[page.events.length - 1].position;
      this.reported = this.after;
    }
    this.buffer = messages;
    this.index = 0;
    if (page.events.length === pageSize) return;

    const horizon: Position = { commit: page.horizon - 1n, prepare: MAX_PREPARE };
    if (comparePositions(horizon, this.after) > 0) this.after = horizon;
    if (!this.caughtUp) {
      this.caughtUp = true;
      this.reported = this.after;
      messages.push({ kind: 'caughtUp', position: this.after });
    } else if (page.events.length === 0 && comparePositions(this.after, this.reported!) > 0) {
      // Only when this round delivered nothing: a delivered event is progress enough.
      this.reported = this.after;
      messages.push({ kind: 'checkpoint', position: this.after });
    }

    if (page.events.length > 0) this.recheckMs = 0;
    else if (wokenByNotify || this.recheckMs > 0) {
      this.recheckMs = this.recheckMs * 2 || FIRST_RECHECK_MS;
    }
    if (this.recheckMs > Math.min(LAST_RECHECK_MS, pollIntervalMs)) this.recheckMs = 0;
    this.pauseMs = this.recheckMs || pollIntervalMs;
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
