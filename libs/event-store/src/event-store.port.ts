import type { Position } from './position';

/** `any` | `no_stream` | `stream_exists` | an exact 0-based revision (EventStoreDB semantics). */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export type ActorType = 'user' | 'api_key' | 'system';

/**
 * The audit envelope every event carries. It holds ids, times and addresses only: never personal
 * data of the subject. `recordedAt` is assigned by the store, in log order, and comes back on read.
 */
export interface EventMetadata {
  readonly organisationId: string;
  readonly actorId: string;
  readonly actorType: ActorType;
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly clientIp?: string;
  /** Present when `data` is ciphertext: names the data key that encrypted it. */
  readonly keyId?: string;
}

export interface NewEvent {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  /** Exact bytes; the store never re-encodes them (hashes stay stable). */
  readonly data: Uint8Array;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: Position;
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: Uint8Array;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** Hash chain links (hex), stream-local; see hash-chain.ts. */
  readonly prevHash: string;
  readonly hash: string;
  /**
   * Set by the encryption layer when the data key that encrypted the payload has been destroyed
   * (erasure): `data` is then empty and can never be read again. The envelope stays as it was.
   */
  readonly erased?: true;
}

export interface AppendOptions {
  readonly expectedRevision: ExpectedRevision;
}

export interface AppendResult {
  /** The stream's last revision after the append: pass it as the next expected revision. */
  readonly nextExpectedRevision: bigint;
  /** Position of the last event written (or found, for an idempotent retry). */
  readonly position: Position;
}

/** One stream's part of a multi-stream append: its events and the revision they were decided on. */
export interface StreamAppend {
  readonly stream: string;
  readonly events: readonly NewEvent[];
  readonly expectedRevision: ExpectedRevision;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive. Default: 0 forwards, the last revision backwards. */
  readonly fromRevision?: bigint | 'start' | 'end';
  readonly direction?: Direction;
  readonly maxCount?: number;
}

export interface EventFilter {
  readonly organisationId?: string;
  /** Exact type names; an event matches when its type is one of them. */
  readonly eventTypes?: readonly string[];
}

export interface ReadAllOptions {
  /** Inclusive. Default: start forwards, end backwards. */
  readonly fromPosition?: Position | 'start' | 'end';
  readonly direction?: Direction;
  readonly maxCount?: number;
  readonly filter?: EventFilter;
}

export interface SubscribeToAllOptions {
  /** Exclusive: delivery starts strictly after it. Default: start. */
  readonly fromPosition?: Position | 'start' | 'end';
  readonly filter?: EventFilter;
}

export type SubscriptionMessage =
  | { readonly kind: 'event'; readonly event: RecordedEvent }
  /** Everything committed so far has been delivered; live events follow. Sent once. */
  | { readonly kind: 'caughtUp'; readonly position: Position }
  /**
   * Everything up to `position` has been considered, including events the filter hid. Persist it as
   * the resume point when no event arrives for a while.
   */
  | { readonly kind: 'checkpoint'; readonly position: Position };

export interface Subscription extends AsyncIterable<SubscriptionMessage> {
  close(): Promise<void>;
  /**
   * Optional: up to `max` messages the subscription already holds in memory, taken at once and in
   * order, exactly as that many calls of its iterator's `next()` would take them; none when `next()`
   * would have to wait. For a decorator that works a page at a time (the encryption layer), which
   * would otherwise pay a promise per message to find the page's end.
   */
  takeBuffered?(max: number): SubscriptionMessage[];
}

/** The event log port. Adapters: PostgreSQL (default), in-memory (tests), EventStoreDB. */
export interface EventStore {
  appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult>;
  /**
   * Several streams in one atomic append: all of it becomes visible, in the order given, or none.
   * Each stream is checked and retried exactly as `appendToStream` would (a stream whose events are
   * already there writes nothing and answers as before); the first stream that conflicts fails the
   * whole call with its `WrongExpectedVersionError`. One result per append, in order. Streams may
   * belong to different organisations; a stream may appear only once.
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** Throws `StreamNotFoundError` when the stream has no events. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeToAllOptions): Subscription;
  close(): Promise<void>;
}

/** A subject's first data key (version 1), wrapped by its organisation's key: the key store's row. */
export interface NewDataKey {
  readonly organisationId: string;
  readonly subjectId: string;
  readonly organisationKeyVersion: number;
  readonly wrappedKey: Uint8Array;
}

/**
 * An adapter whose database also holds the key store (PostgreSQL): it stores a subject's first
 * data key in the same transaction as the first events encrypted under it, sparing a create the
 * key store's own statement. Used by the encryption layer only when told the key store is that
 * same database.
 */
export interface StoresDataKeysWithAppends {
  /**
   * appendToStreams, and `keys` stored in the same transaction, each for an organisation of one
   * of the streams. All of it or nothing: if a subject already has a key (or an erasure's
   * tombstone) other than the one given, DataKeyTakenError and nothing is written. An exact retry
   * (the same events, the same keys) writes nothing and answers as before.
   */
  appendToStreamsWithDataKeys(
    appends: readonly StreamAppend[],
    keys: readonly NewDataKey[],
  ): Promise<AppendResult[]>;
}

export function storesDataKeysWithAppends(
  store: EventStore,
): store is EventStore & StoresDataKeysWithAppends {
  return (
    typeof (store as Partial<StoresDataKeysWithAppends>).appendToStreamsWithDataKeys === 'function'
  );
}

export const EVENT_STORE = Symbol('EventStore');
