import { encodeMetadata, validateAppend, validateAppends } from '../append-validation';
import { StreamNotFoundError, WrongExpectedVersionError } from '../errors';
import type {
  AppendOptions,
  AppendResult,
  EventFilter,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeToAllOptions,
  Subscription,
  SubscriptionMessage,
} from '../event-store.port';
import { computeEventHash, GENESIS_HASH } from '../hash-chain';
import { comparePositions, START, type Position } from '../position';
import { parseStreamName } from '../stream-name';

interface StoredEvent {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: Position;
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly organisationId: string;
  readonly data: Buffer;
  readonly metadata: Buffer;
  readonly recordedAtMillis: number;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

export interface InMemoryEventStoreOptions {
  /** Injected for deterministic tests; the store still never lets recordedAt go backwards. */
  readonly clock?: () => Date;
}

/**
 * The event log in process memory, for domain and handler tests. Same semantics as the PostgreSQL
 * adapter (both pass the contract suite). Every append runs synchronously to completion, so
 * concurrent callers see one total order without any locking.
 */
export class InMemoryEventStore implements EventStore {
  private readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly subscriptions = new Set<MemorySubscription>();
  private readonly clock: () => Date;
  private lastRecordedAtMillis = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(options: InMemoryEventStoreOptions = {}) {
    this.clock = options.clock ?? (() => new Date());
  }

  appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    return settle(() => this.append(stream, events, options));
  }

  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return settle(() => this.appendMany(appends));
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return settle(() => this.read(stream, options));
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return settle(() => this.readLog(options));
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    const from = options.fromPosition ?? 'start';
    const head = this.log.length > 0 ? this.log[this.log.length - 1].position : START;
    const start = from === 'start' ? START : from === 'end' ? head : from;
    const subscription = new MemorySubscription(
      this.log,
      from === 'start' ? 0 : from === 'end' ? this.log.length : this.firstIndexAfter(from),
      start,
      options.filter,
      (s) => this.subscriptions.delete(s),
    );
    if (this.closed) void subscription.close();
    else this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }

  private append(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): AppendResult {
    this.assertOpen();
    const organisationId = validateAppend(stream, events);
    const planned = this.plan(stream, organisationId, events, options.expectedRevision);
    return this.commit([planned])[0];
  }

  private appendMany(appends: readonly StreamAppend[]): AppendResult[] {
    this.assertOpen();
    const organisationIds = validateAppends(appends);
    // Every stream is checked before anything is written: the first conflict throws with the log
    // untouched.
    const planned = appends.map((a, i) =>
      this.plan(a.stream, organisationIds[i], a.events, a.expectedRevision),
    );
    return this.commit(planned);
  }

  /** What an append would do to one stream: the original result of a retry, or events to write. */
  private plan(
    stream: string,
    organisationId: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): PlannedAppend {
    const existing = this.streams.get(stream) ?? [];
    const retried = this.findRetry(stream, existing, events, expected);
    if (retried) return { retried };
    checkExpectedRevision(stream, existing, expected);
    return { write: { stream, organisationId, events, existing } };
  }

  /** Writes every planned batch with one timestamp; nothing here can throw half-way. */
  private commit(planned: readonly PlannedAppend[]): AppendResult[] {
    const recordedAtMillis = this.nextRecordedAt();
    let notify = false;
    const results = planned.map((p): AppendResult => {
      if (p.retried) return p.retried;
      const { stream, organisationId, events, existing } = p.write;
      let prevHash = existing.length > 0 ? existing[existing.length - 1].hash : GENESIS_HASH;
      const written: StoredEvent[] = [];
      for (const event of events) {
        const seq = BigInt(this.log.length + 1);
        const fields = {
          streamId: stream,
          revision: BigInt(existing.length),
          eventId: event.eventId,
          type: event.type,
          schemaVersion: event.schemaVersion,
          organisationId,
          data: Buffer.from(event.data),
          metadata: encodeMetadata(event),
        };
        const hash = computeEventHash(prevHash, {
          ...fields,
          recordedAtMicros: BigInt(recordedAtMillis) * 1000n,
        });
        const stored = {
          ...fields,
          position: Object.freeze({ commit: seq, prepare: seq }),
          recordedAtMillis,
          prevHash,
          hash,
        };
        this.log.push(stored);
        existing.push(stored);
        written.push(stored);
        prevHash = hash;
      }
      if (!this.streams.has(stream)) this.streams.set(stream, existing);
      notify = true;
      const last = written[written.length - 1];
      return { nextExpectedRevision: last.revision, position: last.position };
    });
    // Subscribers run on later ticks, so they see the whole batch at once.
    if (notify) for (const subscription of this.subscriptions) subscription.notify();
    return results;
  }

  private read(stream: string, options: ReadStreamOptions): RecordedEvent[] {
    this.assertOpen();
    parseStreamName(stream);
    const events = this.streams.get(stream);
    if (!events) throw new StreamNotFoundError(stream);
    const backwards = options.direction === 'backwards';
    const lastRevision = BigInt(events.length - 1);
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    const fromRevision = from === 'start' ? 0n : from === 'end' ? lastRevision : from;
    const selected = backwards
      ? events.filter((e) => e.revision <= fromRevision).reverse()
      : events.filter((e) => e.revision >= fromRevision);
    return limit(selected, options.maxCount).map(toRecordedEvent);
  }

  private readLog(options: ReadAllOptions): RecordedEvent[] {
    this.assertOpen();
    const backwards = options.direction === 'backwards';
    const from = options.fromPosition ?? (backwards ? 'end' : 'start');
    let selected: StoredEvent[];
    if (backwards) {
      const end =
        from === 'start' ? 0 : from === 'end' ? this.log.length : this.firstIndexAfter(from);
      selected = this.log.slice(0, end).reverse();
    } else {
      const begin =
        from === 'start' ? 0 : from === 'end' ? this.log.length : this.firstIndexAtOrAfter(from);
      selected = this.log.slice(begin);
    }
    const filter = options.filter;
    const matching = filter ? selected.filter((e) => matches(e, filter)) : selected;
    return limit(matching, options.maxCount).map(toRecordedEvent);
  }

  /**
   * EventStoreDB idempotency: when the batch's first event id already sits where the batch would
   * go (at expected + 1, or anywhere in the stream for `any` / `stream_exists`), the append is a
   * retry. A retry that matches completely succeeds with the original result and writes nothing;
   * a partial match is a conflict.
   */
  private findRetry(
    stream: string,
    existing: readonly StoredEvent[],
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): AppendResult | undefined {
    let start: number;
    if (expected === 'any' || expected === 'stream_exists') {
      start = existing.findIndex((e) => e.eventId === events[0].eventId);
    } else {
      start = expected === 'no_stream' ? 0 : Number(expected + 1n);
      if (existing[start]?.eventId !== events[0].eventId) start = -1;
    }
    if (start < 0) return undefined;
    const complete = events.every((e, i) => existing[start + i]?.eventId === e.eventId);
    if (!complete) throw new WrongExpectedVersionError(stream, expected, lastRevisionOf(existing));
    const last = existing[start + events.length - 1];
    return { nextExpectedRevision: last.revision, position: last.position };
  }

  private nextRecordedAt(): number {
    const now = this.clock().getTime();
    this.lastRecordedAtMillis = Math.max(this.lastRecordedAtMillis, now);
    return this.lastRecordedAtMillis;
  }

  private firstIndexAtOrAfter(position: Position): number {
    return this.firstIndexWhere((c) => c >= 0, position);
  }

  private firstIndexAfter(position: Position): number {
    return this.firstIndexWhere((c) => c > 0, position);
  }

  // Binary search: positions accept any Position, not only ones this store handed out.
  private firstIndexWhere(test: (comparison: number) => boolean, position: Position): number {
    let low = 0;
    let high = this.log.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (test(comparePositions(this.log[mid].position, position))) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('InMemoryEventStore is closed');
  }
}

type PlannedAppend =
  | { readonly retried: AppendResult; readonly write?: undefined }
  | {
      readonly retried?: undefined;
      readonly write: {
        readonly stream: string;
        readonly organisationId: string;
        readonly events: readonly NewEvent[];
        readonly existing: StoredEvent[];
      };
    };

// Runs `work` to completion now, so concurrent callers are serialised, yet reports every failure
// (validation included) as a rejection, as an adapter doing I/O would.
function settle<T>(work: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(work()));
}

function lastRevisionOf(events: readonly StoredEvent[]): bigint | 'no_stream' {
  return events.length === 0 ? 'no_stream' : BigInt(events.length - 1);
}

function checkExpectedRevision(
  stream: string,
  existing: readonly StoredEvent[],
  expected: ExpectedRevision,
): void {
  const actual = lastRevisionOf(existing);
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === 'no_stream') ||
    (expected === 'stream_exists' && actual !== 'no_stream') ||
    (typeof expected === 'bigint' && expected === actual);
  if (!ok) throw new WrongExpectedVersionError(stream, expected, actual);
}

function matches(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.organisationId !== undefined && event.organisationId !== filter.organisationId) {
    return false;
  }
  return filter.eventTypes === undefined || filter.eventTypes.includes(event.type);
}

function limit<T>(items: T[], maxCount: number | undefined): T[] {
  if (maxCount === undefined) return items;
  if (!Number.isInteger(maxCount) || maxCount < 0) {
    throw new RangeError(`maxCount must be a non-negative integer, got ${maxCount}`);
  }
  return items.slice(0, maxCount);
}

// Fresh copies every time, so a caller that mutates what it read cannot change the log.
function toRecordedEvent(e: StoredEvent): RecordedEvent {
  return {
    streamId: e.streamId,
    revision: e.revision,
    position: e.position,
    eventId: e.eventId,
    type: e.type,
    schemaVersion: e.schemaVersion,
    data: Buffer.from(e.data),
    metadata: JSON.parse(e.metadata.toString('utf8')) as EventMetadata,
    recordedAt: new Date(e.recordedAtMillis),
    prevHash: e.prevHash.toString('hex'),
    hash: e.hash.toString('hex'),
  };
}

/**
 * Reads the shared log array by index: history first, one `caughtUp`, then whatever appends add.
 * Whenever it reaches the head having considered events it did not deliver, it reports a
 * `checkpoint`, so a filtered subscriber's resume point moves even while every event is hidden.
 */
class MemorySubscription implements Subscription {
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly messages: AsyncGenerator<SubscriptionMessage, void, undefined>;

  constructor(
    private readonly log: readonly StoredEvent[],
    private cursor: number,
    private readonly from: Position,
    private readonly filter: EventFilter | undefined,
    private readonly onClose: (subscription: MemorySubscription) => void,
  ) {
    this.messages = this.run();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionMessage> {
    return this.messages;
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  close(): Promise<void> {
    this.closed = true;
    this.onClose(this);
    this.notify();
    return Promise.resolve();
  }

  private async *run(): AsyncGenerator<SubscriptionMessage, void, undefined> {
    let considered = this.from;
    let reported = this.from;
    let caughtUp = false;
    try {
      while (!this.closed) {
        while (this.cursor < this.log.length) {
          const entry = this.log[this.cursor];
          this.cursor += 1;
          considered = entry.position;
          if (this.filter && !matches(entry, this.filter)) continue;
          reported = considered;
          yield { kind: 'event', event: toRecordedEvent(entry) };
          if (this.closed) return;
        }
        if (!caughtUp) {
          caughtUp = true;
          reported = considered;
          yield { kind: 'caughtUp', position: considered };
        } else if (comparePositions(considered, reported) > 0) {
          reported = considered;
          yield { kind: 'checkpoint', position: considered };
        }
        if (this.closed) return;
        // Appends made while the consumer held a message are already in the log: no wait needed.
        if (this.cursor < this.log.length) continue;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.closed = true;
      this.onClose(this);
    }
  }
}
