import type { RecordedEvent, Subscription, SubscriptionMessage } from '../event-store.port';
import { formatPosition } from '../position';

const TIMED_OUT = Symbol('timed out');

/**
 * Reads a subscription until a condition holds. Adapters with real concurrency deliver
 * asynchronously, so tests wait for a condition with a generous deadline, never for a fixed time.
 */
export class SubscriptionCollector {
  readonly messages: SubscriptionMessage[] = [];
  private readonly iterator: AsyncIterator<SubscriptionMessage>;
  // A `next()` that lost a race against the deadline is kept, so its message is not dropped.
  private pending: Promise<IteratorResult<SubscriptionMessage>> | undefined;
  private ended = false;

  constructor(private readonly subscription: Subscription) {
    this.iterator = subscription[Symbol.asyncIterator]();
  }

  get isDone(): boolean {
    return this.ended;
  }

  async until(
    description: string,
    predicate: (messages: readonly SubscriptionMessage[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<SubscriptionMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.messages)) {
      if (this.ended) throw new Error(`Subscription ended before ${description}`);
      this.pending ??= this.iterator.next();
      const result = await withDeadline(this.pending, deadline);
      if (result === TIMED_OUT) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${description}; ${this.summary()}`,
        );
      }
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.messages.push(result.value);
    }
    return this.messages;
  }

  untilCaughtUp(): Promise<SubscriptionMessage[]> {
    return this.until('caughtUp', (ms) => ms.some((m) => m.kind === 'caughtUp'));
  }

  /** Waits until every one of `eventIds` has been delivered. */
  untilEvents(eventIds: readonly string[]): Promise<SubscriptionMessage[]> {
    return this.until(`${eventIds.length} events`, () => {
      const seen = new Set(this.events().map((e) => e.eventId));
      return eventIds.every((id) => seen.has(id));
    });
  }

  /** Resolves once the iterator has finished, i.e. a pending `next()` came back done. */
  async untilEnded(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      this.pending ??= this.iterator.next();
      const result = await withDeadline(this.pending, deadline);
      if (result === TIMED_OUT) throw new Error(`Subscription did not end within ${timeoutMs} ms`);
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.messages.push(result.value);
    }
  }

  /** Delivered events, optionally only one organisation's (a shared log holds others' too). */
  events(organisationId?: string): RecordedEvent[] {
    return this.messages.flatMap((m) =>
      m.kind === 'event' &&
      (organisationId === undefined || m.event.metadata.organisationId === organisationId)
        ? [m.event]
        : [],
    );
  }

  close(): Promise<void> {
    return this.subscription.close();
  }

  private summary(): string {
    const kinds = this.messages.map((m) =>
      m.kind === 'event'
        ? `event ${m.event.type}@${formatPosition(m.event.position)}`
        : `${m.kind}@${formatPosition(m.position)}`,
    );
    return `received ${kinds.length} messages: ${kinds.slice(-20).join(', ')}`;
  }
}

async function withDeadline<T>(
  promise: Promise<T>,
  deadline: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
