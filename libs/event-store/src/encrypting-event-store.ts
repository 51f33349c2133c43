import {
  AuthenticationFailedError,
  KeyUnavailableError,
  associatedDataText,
  open,
  seal,
  type DataKey,
  type FreshDataKeys,
  ThreadedDecryption,
  type PayloadKeyring,
  type ReadableKey,
  type SealedItem,
} from '@beecastle/crypto';
import { validateAppend, validateAppends } from './append-validation';
import { DataKeyTakenError } from './errors';
import {
  storesDataKeysWithAppends,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type NewDataKey,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoresDataKeysWithAppends,
  type StreamAppend,
  type SubscribeToAllOptions,
  type Subscription,
  type SubscriptionMessage,
} from './event-store.port';
import { parseStreamName, type StreamName } from './stream-name';

/** Whose data key encrypts an event of this type in this stream: a subject id (see PayloadKeyring). */
export type KeySubjectPolicy = (stream: StreamName, eventType: string) => string;

/**
 * A payload that should open does not: its key is unknown or does not fit, or the bytes, or the
 * envelope they are bound to, were changed or moved (another organisation, stream or event). It
 * is never answered with what decryption produced; callers fail, and the API logs it as a
 * security event. It names the event, never its contents.
 */
export class PayloadDecryptionError extends Error {
  constructor(
    readonly streamId: string,
    readonly eventId: string,
    readonly keyId: string,
    readonly reason: string,
  ) {
    super(
      `The payload of event ${eventId} in ${streamId} (key ${keyId}) did not decrypt: ${reason}`,
    );
    this.name = 'PayloadDecryptionError';
  }
}

export interface EncryptingEventStoreOptions {
  /**
   * The key store is in the adapter's own database, which stores a subject's first data key in
   * the transaction of the first append encrypted under it (StoresDataKeysWithAppends): a create
   * then costs one statement, not two. Only for a stream created by the append (`no_stream`), and
   * only for its own subject (a contact's events in its stream); should the subject have a key
   * after all, the append is encrypted again with the stored key. Needs an adapter that can and a
   * keyring with `freshKeys`.
   */
  readonly storeNewKeysWithAppends?: boolean;
  /**
   * Subscriptions open payloads on a worker thread (threaded-decryption.ts), a batch's while the
   * batch before is consumed: for a reader catching up on a long log (a projector rebuilding),
   * whose own thread is then free to read and parse the next page.
   */
  readonly decryptOnThread?: boolean | ThreadedDecryption;
}

// Batches smaller than this are opened where they are: the hand-over costs more than it saves.
const MIN_THREADED_BATCH = 64;

/** What an append is encrypted with: each organisation's keys by subject, and first keys to store. */
interface Encrypted {
  readonly events: NewEvent[][];
  readonly fresh: readonly FreshDataKeys[];
  readonly newKeys: readonly NewDataKey[];
}

interface KeysWanted {
  readonly lookups: Map<string, () => Promise<Map<string, ReadableKey>>>;
  readonly organisations: readonly (string | undefined)[];
}

/** The first byte of every encrypted payload: AES-256-GCM, nonce ‖ ciphertext ‖ tag follow. */
const FORMAT_AES_256_GCM = 0x01;
const EMPTY = new Uint8Array(0);
// How many subscription messages are decrypted together (one key lookup per organisation).
const MAX_BATCH = 2_000;
// Batches taken ahead of the one being consumed. With one, a cold read's reader thread sat idle a
// quarter of the time, waiting for a batch's keys and payloads (key store, then the thread);
// with two, those overlap the reading and decoding of the page after.
const BATCHES_AHEAD = 2;

/**
 * What a payload is bound to: the organisation, stream and event it was written for, its type and
 * schema version, and the data key (with its version) that encrypted it. Moved or relabelled, it
 * does not open.
 */
function payloadContext(
  organisationId: string,
  streamId: string,
  event: { readonly eventId: string; readonly type: string; readonly schemaVersion: number },
  keyId: string,
): Buffer {
  return Buffer.from(payloadContextText(organisationId, streamId, event, keyId), 'utf8');
}

/** payloadContext before its encoding: what the decryption thread is given (it encodes it). */
function payloadContextText(
  organisationId: string,
  streamId: string,
  event: { readonly eventId: string; readonly type: string; readonly schemaVersion: number },
  keyId: string,
): string {
  return associatedDataText(
    'beecastle/event/v1',
    organisationId,
    streamId,
    event.eventId,
    event.type,
    event.schemaVersion,
    keyId,
  );
}

/**
 * Decorates any adapter so that it stores only ciphertext (ARCHITECTURE.md §4). On append, each
 * payload is encrypted with AES-256-GCM under its subject's data key (a fresh random nonce each
 * time), and `metadata.keyId` names that key; the adapter then chains hashes over the ciphertext,
 * so `verify` needs no keys. On read, payloads are decrypted; one whose key was destroyed
 * (erasure) comes back `erased` with empty data; one that does not open throws
 * PayloadDecryptionError. Metadata is not encrypted: it carries ids, types, actors and times for
 * audit, never personal data of the subject. Events without `keyId` (written before encryption)
 * are returned as stored.
 */
export class EncryptingEventStore implements EventStore {
  /** The inner store, when new keys go with appends. */
  private readonly storing: StoresDataKeysWithAppends | undefined;
  private readonly thread: ThreadedDecryption | undefined;

  constructor(
    private readonly inner: EventStore,
    private readonly keyring: PayloadKeyring,
    private readonly subjectOf: KeySubjectPolicy,
    options: EncryptingEventStoreOptions = {},
  ) {
    if (options.storeNewKeysWithAppends) {
      if (!storesDataKeysWithAppends(inner) || !keyring.freshKeys) {
        throw new Error(
          'storeNewKeysWithAppends needs an adapter that stores data keys and a keyring with freshKeys',
        );
      }
      this.storing = inner;
    }
    // An instance may be shared with the keyring (KeyringOptions.bulkOpener); closing the store
    // closes it, and the keyring then unwraps in place.
    if (options.decryptOnThread) {
      this.thread =
        options.decryptOnThread instanceof ThreadedDecryption
          ? options.decryptOnThread
          : new ThreadedDecryption();
    }
  }

  async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    validateAppend(stream, events);
    const appends = [{ stream, events, expectedRevision: options.expectedRevision }];
    const [result] = await this.appendEncrypted(appends, async ([encrypted]) => [
      await this.inner.appendToStream(stream, encrypted, options),
    ]);
    return result;
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    validateAppends(appends);
    return this.appendEncrypted(appends, (events) =>
      this.inner.appendToStreams(appends.map((append, i) => ({ ...append, events: events[i] }))),
    );
  }

  /**
   * Encrypts and appends. With storeNewKeysWithAppends, the subjects of the streams the append
   * creates get first keys stored in the append's own transaction; should one of them turn out to
   * have a key already (another process made it, or an erasure left its tombstone), nothing was
   * written, and the events are encrypted again with the keys the keyring then finds (or refuses).
   */
  private async appendEncrypted(
    appends: readonly StreamAppend[],
    append: (events: NewEvent[][]) => Promise<AppendResult[]>,
  ): Promise<AppendResult[]> {
    const storing =
      this.storing && appends.some((a) => a.expectedRevision === 'no_stream')
        ? this.storing
        : undefined;
    const first = await this.encrypt(appends, storing !== undefined);
    if (!storing || first.newKeys.length === 0) return append(first.events);
    try {
      const results = await storing.appendToStreamsWithDataKeys(
        appends.map((a, i) => ({ ...a, events: first.events[i] })),
        first.newKeys,
      );
      for (const keys of first.fresh) keys.stored();
      return results;
    } catch (error) {
      if (!(error instanceof DataKeyTakenError)) throw error;
    }
    return append((await this.encrypt(appends, false)).events);
  }

  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.decrypt(await this.inner.readStream(stream, options));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.decrypt(await this.inner.readAll(options));
  }

  subscribeToAll(options?: SubscribeToAllOptions): Subscription {
    return new DecryptingSubscription(this.inner.subscribeToAll(options), (events) => {
      // The keys are looked up now, while the batch before is consumed; the payloads are
      // decrypted when this batch's turn comes, or, on a thread, as soon as the keys are in.
      const wanted = this.keysWanted(events, true);
      return this.thread && events.length >= MIN_THREADED_BATCH
        ? this.decryptEarly(events, wanted, this.thread)
        : () => this.decryptWith(events, wanted);
    });
  }

  async close(): Promise<void> {
    await this.thread?.close();
    await this.inner.close();
  }

  /**
   * Every stream's events encrypted, with one key lookup per organisation. With `fresh`, the
   * subjects of streams the append creates get first keys made here (unless held in memory), to
   * be stored with the append.
   */
  private async encrypt(appends: readonly StreamAppend[], fresh: boolean): Promise<Encrypted> {
    const parsed = appends.map(({ stream, events }) => {
      const name = parseStreamName(stream);
      return { stream, name, subjects: events.map((e) => this.subjectOf(name, e.type)) };
    });
    const subjectsByOrganisation = new Map<string, { all: Set<string>; created: Set<string> }>();
    for (const [i, { name, subjects }] of parsed.entries()) {
      const entry = subjectsByOrganisation.get(name.organisationId) ?? {
        all: new Set<string>(),
        created: new Set<string>(),
      };
      for (const subject of subjects) entry.all.add(subject);
      // A stream this append creates: its own subject (a new contact) has no key yet, surely.
      if (fresh && appends[i].expectedRevision === 'no_stream' && subjects.includes(name.id)) {
        entry.created.add(name.id);
      }
      subjectsByOrganisation.set(name.organisationId, entry);
    }
    const keys = new Map<string, Map<string, DataKey>>();
    const made: FreshDataKeys[] = [];
    const newKeys: NewDataKey[] = [];
    await Promise.all(
      [...subjectsByOrganisation].map(async ([organisationId, { all, created }]) => {
        const first =
          created.size > 0 && this.keyring.freshKeys
            ? await this.keyring.freshKeys(organisationId, [...created])
            : undefined;
        const others = [...all].filter((subject) => !first?.keys.has(subject));
        const found =
          others.length > 0
            ? await this.keyring.keysForWriting(organisationId, others)
            : new Map<string, DataKey>();
        if (first && first.records.length > 0) {
          made.push(first);
          for (const [subject, key] of first.keys) found.set(subject, key);
          for (const record of first.records) {
            newKeys.push({
              organisationId,
              subjectId: record.subjectId,
              organisationKeyVersion: record.organisationKeyVersion!,
              wrappedKey: record.wrappedKey!,
            });
          }
        }
        keys.set(organisationId, found);
      }),
    );
    const events = appends.map(({ events }, i) => {
      const { stream, name, subjects } = parsed[i];
      return events.map((event, j): NewEvent => {
        const { keyId, key } = keys.get(name.organisationId)!.get(subjects[j])!;
        const sealed = seal(
          key,
          event.data,
          payloadContext(name.organisationId, stream, event, keyId),
        );
        const data = Buffer.allocUnsafe(1 + sealed.length);
        data[0] = FORMAT_AES_256_GCM;
        sealed.copy(data, 1);
        return { ...event, data, metadata: { ...event.metadata, keyId } };
      });
    });
    return { events, fresh: made, newKeys };
  }

  /** The events with their payloads decrypted, in the same order, one key lookup per organisation. */
  private decrypt(events: readonly RecordedEvent[]): Promise<RecordedEvent[]> {
    return this.decryptWith(events, this.keysWanted(events, false));
  }

  /**
   * The key ids these events need by organisation, each with how to get its keys (their lookup
   * begun at once if `ahead`), and each encrypted event's organisation.
   */
  private keysWanted(events: readonly RecordedEvent[], ahead: boolean): KeysWanted {
    const wanted = new Map<string, Set<string>>();
    // Each encrypted event's organisation, parsed once (a cold read decrypts millions).
    const organisations = new Array<string | undefined>(events.length);
    for (const [i, event] of events.entries()) {
      const { keyId } = event.metadata;
      if (keyId === undefined) continue;
      const organisationId = parseStreamName(event.streamId).organisationId;
      organisations[i] = organisationId;
      const set = wanted.get(organisationId) ?? new Set<string>();
      set.add(keyId);
      wanted.set(organisationId, set);
    }
    const keyring = this.keyring;
    const lookups = new Map<string, () => Promise<Map<string, ReadableKey>>>();
    for (const [organisationId, set] of wanted) {
      const keyIds = [...set];
      lookups.set(
        organisationId,
        ahead && keyring.keysForReadingAhead
          ? keyring.keysForReadingAhead(organisationId, keyIds)
          : () => keyring.keysForReading(organisationId, keyIds),
      );
    }
    return { lookups, organisations };
  }

  private async decryptWith(
    events: readonly RecordedEvent[],
    wanted: KeysWanted,
  ): Promise<RecordedEvent[]> {
    if (wanted.lookups.size === 0) return [...events];
    return this.openAll(events, wanted.organisations, await this.keysFor(events, wanted));
  }

  /**
   * Opens the batch on the thread as soon as its keys are in (looked up ahead), and answers at its
   * turn exactly as decryptWith would then: the keys are asked for again, and only if they are the
   * very ones used (no destruction heard meanwhile: keysForReadingAhead answers the same map) is
   * the early work kept; otherwise the batch is opened again with what the keyring says now.
   */
  private decryptEarly(
    events: readonly RecordedEvent[],
    wanted: KeysWanted,
    thread: ThreadedDecryption,
  ): () => Promise<RecordedEvent[]> {
    const early = this.keysFor(events, wanted).then(async (keys) => ({
      keys,
      opened: await this.openAll(events, wanted.organisations, keys, thread),
    }));
    early.catch(() => undefined);
    return async () => {
      if (wanted.lookups.size === 0) return [...events];
      const done = await early.catch(() => undefined);
      const keys = await this.keysFor(events, wanted);
      const same =
        done !== undefined &&
        [...keys].every(([organisationId, found]) => done.keys.get(organisationId) === found);
      return same ? done.opened : this.openAll(events, wanted.organisations, keys, thread);
    };
  }

  /** Each organisation's keys for these events; PayloadDecryptionError naming one it lacks. */
  private async keysFor(
    events: readonly RecordedEvent[],
    { lookups }: KeysWanted,
  ): Promise<Map<string, Map<string, ReadableKey>>> {
    const keys = new Map<string, Map<string, ReadableKey>>();
    await Promise.all(
      [...lookups].map(async ([organisationId, lookup]) => {
        let found: Map<string, ReadableKey>;
        try {
          found = await lookup();
        } catch (error) {
          if (!(error instanceof KeyUnavailableError)) throw error;
          const event = events.find(
            (e) =>
              e.metadata.keyId === error.keyId &&
              parseStreamName(e.streamId).organisationId === organisationId,
          );
          throw new PayloadDecryptionError(
            event?.streamId ?? `(organisation ${organisationId})`,
            event?.eventId ?? '(unknown)',
            error.keyId,
            error.message,
          );
        }
        keys.set(organisationId, found);
      }),
    );
    return keys;
  }

  /**
   * The events with their payloads opened (erased ones empty, marked `erased`), here or on the
   * thread; the first that cannot be opened fails the whole batch with PayloadDecryptionError.
   */
  private async openAll(
    events: readonly RecordedEvent[],
    organisations: readonly (string | undefined)[],
    keys: Map<string, Map<string, ReadableKey>>,
    thread?: ThreadedDecryption,
  ): Promise<RecordedEvent[]> {
    // On the thread: what it opens, and where each goes in the result.
    const items: SealedItem[] = [];
    const indexes: number[] = [];
    const result = events.map((event, i): RecordedEvent => {
      const { keyId } = event.metadata;
      if (keyId === undefined) return event;
      const organisationId = organisations[i]!;
      const key = keys.get(organisationId)?.get(keyId);
      if (key === 'destroyed') return { ...event, data: EMPTY, erased: true };
      if (key === undefined) {
        throw new PayloadDecryptionError(event.streamId, event.eventId, keyId, 'no key');
      }
      const data = event.data;
      if (data.length === 0 || data[0] !== FORMAT_AES_256_GCM) {
        throw new PayloadDecryptionError(
          event.streamId,
          event.eventId,
          keyId,
          'not in a known encrypted format',
        );
      }
      if (thread) {
        items.push({
          key,
          associatedData: payloadContextText(organisationId, event.streamId, event, keyId),
          sealed: data.subarray(1),
        });
        indexes.push(i);
        return event;
      }
      const context = payloadContext(organisationId, event.streamId, event, keyId);
      try {
        return { ...event, data: open(key, data.subarray(1), context) };
      } catch (error) {
        if (!(error instanceof AuthenticationFailedError)) throw error;
        throw notAuthentic(event, keyId);
      }
    });
    if (!thread || items.length === 0) return result;
    let opened: (Buffer | undefined)[];
    try {
      opened = await thread.open(items);
    } catch {
      // The thread failed (not a payload: those come back unopened): open the batch here.
      return this.openAll(events, organisations, keys);
    }
    indexes.forEach((index, j) => {
      const plaintext = opened[j];
      const event = events[index];
      if (plaintext === undefined) throw notAuthentic(event, event.metadata.keyId!);
      result[index] = { ...event, data: plaintext };
    });
    return result;
  }
}

function notAuthentic(event: RecordedEvent, keyId: string): PayloadDecryptionError {
  return new PayloadDecryptionError(
    event.streamId,
    event.eventId,
    keyId,
    'authentication failed (changed, or moved from another organisation, stream or event)',
  );
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const NOT_YET = Symbol('not yet');

/** Messages taken from the inner subscription together, with their decryption begun. */
interface Batch {
  readonly messages: readonly SubscriptionMessage[];
  /** Decrypts its events, their keys looked up when the batch was taken. */
  readonly decrypt: (() => Promise<RecordedEvent[]>) | undefined;
  /** The inner subscription ended: nothing follows. */
  readonly ended: boolean;
}

/**
 * A subscription whose events come back decrypted. It takes from the inner subscription whatever
 * is already there, up to MAX_BATCH messages (the page in hand, through takeBuffered where the
 * source has it; else everything that resolves before the next turn of the event loop), and
 * decrypts it as one batch, so a catching-up projection looks keys up
 * once per page and organisation rather than once per event. Order is kept.
 *
 * While a batch is decrypted and consumed, the next ones are taken and their keys fetched
 * (BATCHES_AHEAD batches, no more, so memory stays bounded): a cold read waits for the key store
 * alongside its page reads rather than after each of them. A batch is answered with the keys as
 * they are at its turn, so a key destroyed meanwhile reads as `erased` (payloads opened early on
 * a thread are kept only if the keys are the very ones used, see decryptEarly).
 */
class DecryptingSubscription implements Subscription, AsyncIterator<SubscriptionMessage> {
  private readonly source: AsyncIterator<SubscriptionMessage>;
  private ready: readonly SubscriptionMessage[] = [];
  private index = 0;
  private pending: Promise<IteratorResult<SubscriptionMessage>> | undefined;
  // The next batches, oldest first, being taken and their keys fetched (and, on a thread, their
  // payloads opened) while the current one is consumed.
  private ahead: Promise<Batch>[] = [];
  private ended = false;

  constructor(
    private readonly inner: Subscription,
    private readonly prepare: (events: readonly RecordedEvent[]) => () => Promise<RecordedEvent[]>,
  ) {
    this.source = inner[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionMessage> {
    return this;
  }

  next(): Promise<IteratorResult<SubscriptionMessage>> {
    // A message of the batch in hand: one resolved promise, no async frame (a cold read takes
    // hundreds of thousands a second).
    if (this.index < this.ready.length) {
      return Promise.resolve({ done: false, value: this.ready[this.index++] });
    }
    return this.nextBatch();
  }

  private async nextBatch(): Promise<IteratorResult<SubscriptionMessage>> {
    for (;;) {
      if (this.ended) return DONE;
      const taking = this.ahead.shift() ?? this.collect();
      const batch = await taking;
      if (batch.ended) {
        this.ended = true;
        this.ahead = [];
      } else this.readAhead();
      if (batch.messages.length === 0) continue;
      const decrypted = batch.decrypt ? await batch.decrypt() : [];
      let e = 0;
      this.ready = batch.messages.map((m) =>
        m.kind === 'event' ? { kind: 'event', event: decrypted[e++] } : m,
      );
      this.index = 1;
      return { done: false, value: this.ready[0] };
    }
  }

  async return(): Promise<IteratorResult<SubscriptionMessage>> {
    await this.close();
    return DONE;
  }

  async close(): Promise<void> {
    this.ended = true;
    this.ready = [];
    this.index = 0;
    this.ahead = [];
    await this.inner.close();
  }

  /**
   * Keeps BATCHES_AHEAD batches being taken, each once the one before has taken its messages
   * (they come from one source, in order).
   */
  private readAhead(): void {
    while (this.ahead.length < BATCHES_AHEAD) {
      const before = this.ahead.at(-1);
      const batch = before
        ? before.then((previous) => (previous.ended ? previous : this.collect()))
        : this.collect();
      // Surfaces at its turn in next(); until then it must not count as unhandled.
      batch.catch(() => undefined);
      this.ahead.push(batch);
    }
  }

  /** Takes what the inner subscription has (see the class) and begins its decryption. */
  private async collect(): Promise<Batch> {
    const first = await this.take();
    if (first.done) return { messages: [], decrypt: undefined, ended: true };
    const messages = [first.value];
    if (this.inner.takeBuffered) {
      // The rest of the page the first came with, at once (nothing is pending after a take).
      for (const message of this.inner.takeBuffered(MAX_BATCH - 1)) messages.push(message);
      return this.batchOf(messages);
    }
    // One turn of the event loop: whatever the source resolves before it is already buffered.
    const turn = new Promise<typeof NOT_YET>((resolve) => setImmediate(() => resolve(NOT_YET)));
    while (messages.length < MAX_BATCH) {
      const next = this.source.next();
      const settled = await Promise.race([next, turn]);
      if (settled === NOT_YET) {
        this.pending = next;
        // Surfaces at the next take(); until then it must not count as unhandled.
        next.catch(() => undefined);
        break;
      }
      if (settled.done) {
        this.pending = next;
        break;
      }
      messages.push(settled.value);
    }
    return this.batchOf(messages);
  }

  private batchOf(messages: readonly SubscriptionMessage[]): Batch {
    const events: RecordedEvent[] = [];
    for (const m of messages) if (m.kind === 'event') events.push(m.event);
    return {
      messages,
      decrypt: events.length > 0 ? this.prepare(events) : undefined,
      ended: false,
    };
  }

  private take(): Promise<IteratorResult<SubscriptionMessage>> {
    const pending = this.pending;
    this.pending = undefined;
    return pending ?? this.source.next();
  }
}
