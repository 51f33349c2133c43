import { randomUUID } from 'node:crypto';
import { WrongExpectedVersionError } from '../errors';
import { describeEventStoreContract } from '../contract/event-store.contract';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { jsonBytes, newContactStream, newEvent, newEvents } from '../contract/test-events';
import { InMemoryEventStore } from './memory-event-store';

describeEventStoreContract('in-memory, a fresh store per test', () => {
  const store = new InMemoryEventStore();
  return Promise.resolve({ store, teardown: () => store.close() });
});

// The suite promises to tolerate a log that other tests have written to; hold it to that.
const shared = new InMemoryEventStore();
describeEventStoreContract('in-memory, one store shared by every test', () =>
  Promise.resolve({ store: shared, teardown: () => Promise.resolve() }),
);

describe('InMemoryEventStore', () => {
  const organisationId = randomUUID();

  it('stamps recordedAt from the injected clock', async () => {
    const now = new Date('2024-03-01T12:00:00.123Z');
    const store = new InMemoryEventStore({ clock: () => now });
    const stream = newContactStream(organisationId);

    await store.appendToStream(stream, newEvents(organisationId, 2), {
      expectedRevision: 'no_stream',
    });

    const read = await store.readStream(stream);
    expect(read.map((e) => e.recordedAt.toISOString())).toEqual([
      '2024-03-01T12:00:00.123Z',
      '2024-03-01T12:00:00.123Z',
    ]);
  });

  it('never lets recordedAt go backwards when the clock does', async () => {
    const times = ['2024-03-01T12:00:05Z', '2024-03-01T12:00:01Z', '2024-03-01T12:00:09Z'];
    let tick = 0;
    const store = new InMemoryEventStore({ clock: () => new Date(times[tick++]) });
    const stream = newContactStream(organisationId);

    for (let i = 0; i < 3; i += 1) {
      await store.appendToStream(stream, newEvents(organisationId, 1), { expectedRevision: 'any' });
    }

    const read = await store.readStream(stream);
    expect(read.map((e) => e.recordedAt.toISOString())).toEqual([
      '2024-03-01T12:00:05.000Z',
      '2024-03-01T12:00:05.000Z',
      '2024-03-01T12:00:09.000Z',
    ]);
  });

  it('copies data on the way in: mutating the appended buffer changes nothing stored', async () => {
    const store = new InMemoryEventStore();
    const stream = newContactStream(organisationId);
    const data = jsonBytes({ name: 'Ada' });
    const original = Buffer.from(data);

    await store.appendToStream(stream, [newEvent(organisationId, { data })], {
      expectedRevision: 'no_stream',
    });
    data.fill(0);

    const [read] = await store.readStream(stream);
    expect(Buffer.from(read.data).equals(original)).toBe(true);
  });

  it('copies on the way out: mutating what was read changes nothing stored', async () => {
    const store = new InMemoryEventStore();
    const stream = newContactStream(organisationId);
    const data = jsonBytes({ name: 'Ada' });
    await store.appendToStream(stream, [newEvent(organisationId, { data })], {
      expectedRevision: 'no_stream',
    });

    const [first] = await store.readStream(stream);
    first.data.fill(0);
    (first.metadata as { actorId: string }).actorId = 'someone-else';
    first.recordedAt.setTime(0);
    const [fromAll] = await store.readAll();

    expect(Buffer.from(fromAll.data).equals(data)).toBe(true);
    expect(fromAll.metadata.actorId).toBe('user-contract-test');
    expect(fromAll.recordedAt.getTime()).not.toBe(0);
  });

  it('numbers positions by a 1-based global sequence', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream(newContactStream(organisationId), newEvents(organisationId, 2), {
      expectedRevision: 'any',
    });
    await store.appendToStream(newContactStream(organisationId), newEvents(organisationId, 1), {
      expectedRevision: 'any',
    });

    const read = await store.readAll();

    expect(read.map((e) => e.position)).toEqual([
      { commit: 1n, prepare: 1n },
      { commit: 2n, prepare: 2n },
      { commit: 3n, prepare: 3n },
    ]);
  });

  it('treats a retry that runs past the end of the stream as a conflict', async () => {
    const store = new InMemoryEventStore();
    const stream = newContactStream(organisationId);
    const events = newEvents(organisationId, 2);
    await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });

    await expect(
      store.appendToStream(stream, [...events, newEvent(organisationId)], {
        expectedRevision: 'no_stream',
      }),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect(await store.readStream(stream)).toHaveLength(2);
  });

  it('recognises a retry that starts inside an earlier batch', async () => {
    const store = new InMemoryEventStore();
    const stream = newContactStream(organisationId);
    const events = newEvents(organisationId, 3);
    await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });

    const retry = await store.appendToStream(stream, events.slice(1), { expectedRevision: 0n });

    expect(retry.nextExpectedRevision).toBe(2n);
    expect(await store.readStream(stream)).toHaveLength(3);
  });

  it('closing the store ends its subscriptions and refuses further calls', async () => {
    const store = new InMemoryEventStore();
    const collector = new SubscriptionCollector(store.subscribeToAll());
    await collector.untilCaughtUp();
    const ended = collector.untilEnded(1000);

    await store.close();

    await ended;
    await expect(store.readAll()).rejects.toThrow('closed');
  });

  it('ends a subscription broken out of with for-await, so the store stops waking it', async () => {
    const store = new InMemoryEventStore();
    const stream = newContactStream(organisationId);
    await store.appendToStream(stream, newEvents(organisationId, 3), { expectedRevision: 'any' });
    const subscription = store.subscribeToAll();

    let seen = 0;
    for await (const message of subscription) {
      if (message.kind === 'event') seen += 1;
      if (seen === 2) break;
    }

    expect(seen).toBe(2);
    const iterator = subscription[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
  });
});
