import { randomUUID } from 'node:crypto';
import { SubscriptionCollector } from './contract/subscription-collector';
import { jsonBytes, newContactStream, newEvent } from './contract/test-events';
import type { RecordedEvent } from './event-store.port';
import { InMemoryEventStore } from './memory/memory-event-store';
import { UpcasterRegistry, UpcastingEventStore, type Upcaster } from './upcasting-event-store';

// ContactAdded@1 {name} → ContactCreated@2 {fullName} → ContactCreated@3 {fullName, tags}
const renameToCreated: Upcaster = {
  type: 'ContactAdded',
  fromVersion: 1,
  upcast: (data) => ({
    type: 'ContactCreated',
    data: { fullName: (data as { name: string }).name },
  }),
};
const addTags: Upcaster = {
  type: 'ContactCreated',
  fromVersion: 2,
  upcast: (data) => ({ data: { ...(data as object), tags: [] } }),
};

const decode = (e: RecordedEvent): unknown => JSON.parse(Buffer.from(e.data).toString('utf8'));

describe('UpcastingEventStore', () => {
  const organisationId = randomUUID();
  let inner: InMemoryEventStore;
  let store: UpcastingEventStore;
  let stream: string;

  beforeEach(async () => {
    inner = new InMemoryEventStore();
    store = new UpcastingEventStore(inner, new UpcasterRegistry([renameToCreated, addTags]));
    stream = newContactStream(organisationId);
    await store.appendToStream(
      stream,
      [
        newEvent(organisationId, { type: 'ContactAdded', data: jsonBytes({ name: 'Ada' }) }),
        newEvent(organisationId, {
          type: 'ContactCreated',
          schemaVersion: 2,
          data: jsonBytes({ fullName: 'Grace' }),
        }),
        newEvent(organisationId, { type: 'ContactNoted', data: Buffer.from('{"b":1, "a":2}') }),
      ],
      { expectedRevision: 'no_stream' },
    );
  });

  afterEach(() => store.close());

  function expectUpcast(events: readonly RecordedEvent[]): void {
    expect(events.map((e) => [e.type, e.schemaVersion, decode(e)])).toEqual([
      ['ContactCreated', 3, { fullName: 'Ada', tags: [] }],
      ['ContactCreated', 3, { fullName: 'Grace', tags: [] }],
      ['ContactNoted', 1, { b: 1, a: 2 }],
    ]);
  }

  it('upcasts readStream, chaining across versions and a renamed type', async () => {
    expectUpcast(await store.readStream(stream));
  });

  it('upcasts readAll', async () => {
    expectUpcast(await store.readAll({ filter: { organisationId } }));
  });

  it('upcasts subscription deliveries', async () => {
    const collector = new SubscriptionCollector(store.subscribeToAll());
    try {
      await collector.untilCaughtUp();
      expectUpcast(collector.events());
    } finally {
      await collector.close();
    }
  });

  it('leaves events without an upcaster untouched, bytes included', async () => {
    const [, , noted] = await store.readStream(stream);
    expect(Buffer.from(noted.data).toString('utf8')).toBe('{"b":1, "a":2}');
  });

  it('changes only the read: the log and its hashes keep what was written', async () => {
    const [raw] = await inner.readStream(stream);
    const [upcast] = await store.readStream(stream);

    expect([raw.type, raw.schemaVersion, decode(raw)]).toEqual([
      'ContactAdded',
      1,
      { name: 'Ada' },
    ]);
    expect([upcast.hash, upcast.prevHash, upcast.eventId]).toEqual([
      raw.hash,
      raw.prevHash,
      raw.eventId,
    ]);
  });

  it('passes multi-stream appends through, and reads them back upcast', async () => {
    const other = newContactStream(organisationId);
    const added = newEvent(organisationId, {
      type: 'ContactAdded',
      data: jsonBytes({ name: 'Lin' }),
    });

    const results = await store.appendToStreams([
      { stream, events: [newEvent(organisationId)], expectedRevision: 2n },
      { stream: other, events: [added], expectedRevision: 'no_stream' },
    ]);

    expect(results.map((r) => r.nextExpectedRevision)).toEqual([3n, 0n]);
    const [read] = await store.readStream(other);
    expect([read.type, read.schemaVersion, decode(read)]).toEqual([
      'ContactCreated',
      3,
      { fullName: 'Lin', tags: [] },
    ]);
    expect(await inner.readStream(stream)).toHaveLength(4);
  });

  it('refuses two upcasters for the same type and version', () => {
    const registry = new UpcasterRegistry([renameToCreated]);
    expect(() => registry.register({ ...renameToCreated })).toThrow('ContactAdded@1');
    expect(() => new UpcasterRegistry([addTags, addTags])).toThrow('ContactCreated@2');
  });
});
