import { randomBytes, randomUUID } from 'node:crypto';
import {
  InMemoryKeyStore,
  Keyring,
  LocalMasterKeyProvider,
  SubjectErasedError,
  type PayloadKeyring,
} from '@beecastle/crypto';
import { describeEventStoreContract } from './contract/event-store.contract';
import { SubscriptionCollector } from './contract/subscription-collector';
import {
  jsonBytes,
  newContactStream,
  newEvent,
  newEvents,
  contactSubjectOf,
} from './contract/test-events';
import { EncryptingEventStore, PayloadDecryptionError } from './encrypting-event-store';
import type {
  EventStore,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  Subscription,
  SubscriptionMessage,
} from './event-store.port';
import { InMemoryEventStore } from './memory/memory-event-store';
import { streamName } from './stream-name';

const subjectOf = contactSubjectOf;

const newKeyring = () =>
  new Keyring(new InMemoryKeyStore(), new LocalMasterKeyProvider(randomBytes(32), 'test'));

describeEventStoreContract(
  'encrypted, over in-memory',
  () => {
    const store = new EncryptingEventStore(new InMemoryEventStore(), newKeyring(), subjectOf);
    return Promise.resolve({ store, teardown: () => store.close() });
  },
  { setsKeyId: true },
);

/** The adapter underneath, whose reads a test may alter as a thief with write access would. */
class AlteredReads implements EventStore {
  alter: (events: RecordedEvent[]) => RecordedEvent[] = (events) => events;
  constructor(readonly inner: InMemoryEventStore) {}
  appendToStream: EventStore['appendToStream'] = (...args) => this.inner.appendToStream(...args);
  appendToStreams: EventStore['appendToStreams'] = (...args) => this.inner.appendToStreams(...args);
  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.alter(await this.inner.readStream(stream, options));
  }
  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.alter(await this.inner.readAll(options));
  }
  subscribeToAll: EventStore['subscribeToAll'] = (options) => this.inner.subscribeToAll(options);
  close = () => this.inner.close();
}

describe('EncryptingEventStore', () => {
  let raw: AlteredReads;
  let keyring: Keyring;
  let store: EncryptingEventStore;
  let organisationId: string;

  beforeEach(() => {
    raw = new AlteredReads(new InMemoryEventStore());
    keyring = newKeyring();
    store = new EncryptingEventStore(raw, keyring, subjectOf);
    organisationId = randomUUID();
  });

  const canary = () => ({ firstName: `Ada-${randomUUID()}`, email: 'ada@example.test' });

  it('stores only ciphertext, under the subject key the metadata names, and reads it back', async () => {
    const contactId = randomUUID();
    const stream = streamName('contact', organisationId, contactId);
    const payload = canary();
    const event = newEvent(organisationId, { data: jsonBytes(payload) });
    await store.appendToStream(stream, [event], { expectedRevision: 'no_stream' });

    const [stored] = await raw.inner.readStream(stream);
    expect(stored.metadata.keyId).toBe(`${contactId}:1`);
    expect(stored.data[0]).toBe(0x01);
    const text = Buffer.from(stored.data).toString('latin1');
    expect(text).not.toContain(payload.firstName);
    expect(text).not.toContain('ada@example');

    const [read] = await store.readStream(stream);
    expect(JSON.parse(Buffer.from(read.data).toString('utf8'))).toEqual(payload);
    expect(read.erased).toBeUndefined();
    // The chain is the adapter's, over what it stored.
    expect([read.hash, read.prevHash]).toEqual([stored.hash, stored.prevHash]);
  });

  it('encrypts the same payload differently every time', async () => {
    const stream = newContactStream(organisationId);
    const data = jsonBytes(canary());
    await store.appendToStream(stream, newEvents(organisationId, 2, { data }), {
      expectedRevision: 'no_stream',
    });
    const [a, b] = await raw.inner.readStream(stream);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(false);
  });

  it('keys contacts apart, and everything else with the organisation', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    const organisation = streamName('organisation', organisationId, organisationId);
    await store.appendToStreams([
      {
        stream: streamName('contact', organisationId, first),
        events: [newEvent(organisationId), newEvent(organisationId, { type: 'ContactErased' })],
        expectedRevision: 'no_stream',
      },
      {
        stream: streamName('contact', organisationId, second),
        events: [newEvent(organisationId)],
        expectedRevision: 'no_stream',
      },
      { stream: organisation, events: [newEvent(organisationId)], expectedRevision: 'no_stream' },
    ]);
    const keyIds = (await raw.inner.readAll({ filter: { organisationId } })).map(
      (e) => e.metadata.keyId,
    );
    expect(keyIds).toEqual([
      `${first}:1`,
      `${organisationId}:1`,
      `${second}:1`,
      `${organisationId}:1`,
    ]);
  });

  describe('refuses, loudly, a payload that does not belong where it is read', () => {
    let victim: RecordedEvent;
    let stream: string;

    beforeEach(async () => {
      stream = newContactStream(organisationId);
      await store.appendToStream(stream, newEvents(organisationId, 2), {
        expectedRevision: 'no_stream',
      });
      [victim] = await raw.inner.readStream(stream);
    });

    const readFails = async (alter: (event: RecordedEvent) => RecordedEvent) => {
      let altered: RecordedEvent | undefined;
      raw.alter = (events) =>
        events.map((e) => (e.eventId === victim.eventId ? (altered = alter(e)) : e));
      const error = await store.readStream(stream).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PayloadDecryptionError);
      // It names the event as read (never its contents), for the security log.
      const refusal = error as PayloadDecryptionError;
      expect([refusal.streamId, refusal.eventId]).toEqual([altered!.streamId, altered!.eventId]);
      expect(refusal.message).not.toMatch(/note/);
      await expect(store.readAll({ filter: { organisationId } })).rejects.toThrow(
        PayloadDecryptionError,
      );
    };

    it('a changed byte', () =>
      readFails((e) => {
        const data = Buffer.from(e.data);
        data[data.length - 20] ^= 0x01;
        return { ...e, data };
      }));

    it('another event of the same stream, under the same key', async () => {
      const [, other] = await raw.inner.readStream(stream);
      await readFails((e) => ({ ...e, data: other.data }));
    });

    it('a payload moved to another event id, type or schema version', async () => {
      await readFails((e) => ({ ...e, eventId: randomUUID() }));
      await readFails((e) => ({ ...e, type: 'ContactUpdated' }));
      await readFails((e) => ({ ...e, schemaVersion: 2 }));
    });

    it('a payload moved to another stream of the organisation, with its key id', async () => {
      const elsewhere = newContactStream(organisationId);
      await store.appendToStream(elsewhere, [newEvent(organisationId)], {
        expectedRevision: 'no_stream',
      });
      const [moved] = await raw.inner.readStream(elsewhere);
      await readFails(() => ({ ...moved, streamId: stream, eventId: victim.eventId }));
      await readFails((e) => ({ ...e, data: moved.data, metadata: moved.metadata }));
    });

    it('a payload moved to another organisation', async () => {
      const other = randomUUID();
      const contactId = stream.split('.')[1];
      await store.appendToStream(streamName('contact', other, randomUUID()), [newEvent(other)], {
        expectedRevision: 'no_stream',
      });
      // Same contact id, same key id, in another organisation: its key is not this one.
      await readFails((e) => ({
        ...e,
        streamId: streamName('contact', other, contactId),
        metadata: { ...e.metadata, organisationId: other },
      }));
    });

    it('a key id the key store does not know, or a plaintext under a key id', async () => {
      await readFails((e) => ({ ...e, metadata: { ...e.metadata, keyId: `${randomUUID()}:1` } }));
      await readFails((e) => ({ ...e, data: jsonBytes({ forged: true }) }));
    });
  });

  it('reads events written before encryption (no key id) as they were stored', async () => {
    const stream = newContactStream(organisationId);
    const legacy = newEvent(organisationId, { data: jsonBytes({ before: 'encryption' }) });
    await raw.inner.appendToStream(stream, [legacy], { expectedRevision: 'no_stream' });
    await store.appendToStream(stream, [newEvent(organisationId)], { expectedRevision: 0n });
    const [read, encrypted] = await store.readStream(stream);
    expect(Buffer.from(read.data).equals(Buffer.from(legacy.data))).toBe(true);
    expect(read.metadata.keyId).toBeUndefined();
    expect(encrypted.metadata.keyId).toBeDefined();
  });

  describe('after the subject key is destroyed', () => {
    it('reads its events as erased, keeps the rest, and refuses new ones', async () => {
      const contactId = randomUUID();
      const stream = streamName('contact', organisationId, contactId);
      await store.appendToStream(stream, newEvents(organisationId, 2), {
        expectedRevision: 'no_stream',
      });
      await store.appendToStream(stream, [newEvent(organisationId, { type: 'ContactErased' })], {
        expectedRevision: 1n,
      });
      await keyring.destroy(organisationId, contactId);

      const read = await store.readStream(stream);
      expect(read.map((e) => [e.type, e.erased ?? false, e.data.length > 0])).toEqual([
        ['ContactNoted', true, false],
        ['ContactNoted', true, false],
        ['ContactErased', false, true],
      ]);
      // The envelope is untouched: who, when, and the chain.
      const stored = await raw.inner.readStream(stream);
      expect(read.map((e) => [e.metadata, e.recordedAt, e.hash])).toEqual(
        stored.map((e) => [e.metadata, e.recordedAt, e.hash]),
      );

      await expect(
        store.appendToStream(stream, [newEvent(organisationId)], { expectedRevision: 2n }),
      ).rejects.toThrow(SubjectErasedError);
      expect(await raw.inner.readStream(stream)).toHaveLength(3);
    });
  });

  describe('subscriptions', () => {
    it('deliver every event decrypted, in order, looking keys up per batch not per event', async () => {
      let lookups = 0;
      const counting: PayloadKeyring = {
        keysForWriting: (o, s) => keyring.keysForWriting(o, s),
        keysForReading: (o, k) => {
          lookups += 1;
          return keyring.keysForReading(o, k);
        },
      };
      const counted = new EncryptingEventStore(raw, counting, subjectOf);
      const streams = Array.from({ length: 50 }, () => newContactStream(organisationId));
      const written: string[] = [];
      for (let round = 0; round < 50; round += 1) {
        await counted.appendToStreams(
          streams.map((stream) => {
            const events = newEvents(organisationId, 1, {
              data: jsonBytes({ n: written.length }),
            });
            written.push(Buffer.from(events[0].data).toString('utf8'));
            return {
              stream,
              events,
              expectedRevision: round === 0 ? 'no_stream' : BigInt(round - 1),
            };
          }),
        );
      }

      const collector = new SubscriptionCollector(
        counted.subscribeToAll({ filter: { organisationId } }),
      );
      try {
        await collector.untilCaughtUp();
        const events = collector.events(organisationId);
        expect(events.map((e) => Buffer.from(e.data).toString('utf8'))).toEqual(written);
        expect(lookups).toBeLessThanOrEqual(10);

        const live = newEvent(organisationId, { data: jsonBytes({ live: true }) });
        await counted.appendToStream(streams[0], [live], { expectedRevision: 49n });
        await collector.untilEvents([live.eventId]);
        const last = collector.events(organisationId).at(-1)!;
        expect(JSON.parse(Buffer.from(last.data).toString('utf8'))).toEqual({ live: true });
      } finally {
        await collector.close();
      }
    });

    it('take what the source already holds a page at once, not a promise per message', async () => {
      const stream = newContactStream(organisationId);
      const events = Array.from({ length: 20 }, (_, n) =>
        newEvent(organisationId, { data: jsonBytes({ n }) }),
      );
      await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
      const stored = await raw.inner.readAll({ filter: { organisationId } });
      // A source holding pages of 8 (as the PostgreSQL adapter holds a page), then a caughtUp.
      const messages: SubscriptionMessage[] = [
        ...stored.map((event) => ({ kind: 'event' as const, event })),
        { kind: 'caughtUp', position: stored.at(-1)!.position },
      ];
      let at = 0;
      let pageEnd = 0;
      let nexts = 0;
      const source: Subscription = {
        [Symbol.asyncIterator]: () => ({
          next: () => {
            nexts += 1;
            if (at >= messages.length) return new Promise(() => undefined); // live: nothing yet
            if (at >= pageEnd) pageEnd = Math.min(at + 8, messages.length);
            return Promise.resolve({ done: false, value: messages[at++] });
          },
        }),
        takeBuffered: (max) => {
          const taken = messages.slice(at, Math.min(pageEnd, at + max));
          at += taken.length;
          return taken;
        },
        close: () => Promise.resolve(),
      };
      raw.subscribeToAll = () => source;
      const subscription = store.subscribeToAll({ filter: { organisationId } });
      const iterator = subscription[Symbol.asyncIterator]();
      const received: SubscriptionMessage[] = [];
      for (let i = 0; i < messages.length; i += 1) {
        received.push((await iterator.next()).value as SubscriptionMessage);
      }
      expect(
        received.map((m) =>
          m.kind === 'event'
            ? (JSON.parse(Buffer.from(m.event.data).toString('utf8')) as { n: number }).n
            : m.kind,
        ),
      ).toEqual([...Array.from({ length: 20 }, (_, n) => n), 'caughtUp']);
      // One next() a page (three pages), and one more for the batch after, read ahead.
      expect(nexts).toBe(4);
      await subscription.close();
    });

    it('fail on a payload that does not open', async () => {
      const stream = newContactStream(organisationId);
      await store.appendToStream(stream, [newEvent(organisationId)], {
        expectedRevision: 'no_stream',
      });
      // A store whose key store has lost the key: the subscription must not deliver it.
      const forgetful = new EncryptingEventStore(raw, newKeyring(), subjectOf);
      const subscription = forgetful.subscribeToAll({ filter: { organisationId } });
      const iterator = subscription[Symbol.asyncIterator]();
      await expect(iterator.next()).rejects.toThrow(PayloadDecryptionError);
      await subscription.close();
    });
  });
});

describe('EncryptingEventStore with storeNewKeysWithAppends', () => {
  it('refuses an adapter that cannot store keys with its appends', () => {
    expect(
      () =>
        new EncryptingEventStore(new InMemoryEventStore(), newKeyring(), subjectOf, {
          storeNewKeysWithAppends: true,
        }),
    ).toThrow(/adapter that stores data keys/);
  });
});
