import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { newContactStream, newEvents } from '../contract/test-events';
import type { SubscriptionMessage } from '../event-store.port';
import { MAX_PREPARE, comparePositions, type Position } from '../position';
import { PostgresEventStore } from './postgres-event-store';
import * as readEvents from './read-events';

jest.setTimeout(60_000);

describe('PostgresEventStore subscriptions', () => {
  let db: TestDatabase;
  const stores: PostgresEventStore[] = [];
  const collectors: SubscriptionCollector[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.close()));
    await Promise.all(stores.splice(0).map((s) => s.close()));
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await db.drop();
  });

  function newStore(options: ConstructorParameters<typeof PostgresEventStore>[1] = {}) {
    const store = new PostgresEventStore(db.app, options);
    stores.push(store);
    return store;
  }

  function collect(
    store: PostgresEventStore,
    ...args: Parameters<PostgresEventStore['subscribeToAll']>
  ) {
    const collector = new SubscriptionCollector(store.subscribeToAll(...args));
    collectors.push(collector);
    return collector;
  }

  const ids = (events: readonly { eventId: string }[]) => events.map((e) => e.eventId);
  const checkpoints = (messages: readonly SubscriptionMessage[]): Position[] =>
    messages.flatMap((m) => (m.kind === 'checkpoint' ? [m.position] : []));

  async function appendOther(store: PostgresEventStore, organisationId: string): Promise<Position> {
    const result = await store.appendToStream(
      newContactStream(organisationId),
      newEvents(organisationId, 2),
      { expectedRevision: 'no_stream' },
    );
    return result.position;
  }

  it('moves a filtered checkpoint past other organisations’ writes, to the snapshot horizon', async () => {
    const store = newStore({ pollIntervalMs: 50 });
    const organisationId = randomUUID();
    const collector = collect(store, { fromPosition: 'end', filter: { organisationId } });
    await collector.untilCaughtUp();

    const other = randomUUID();
    await appendOther(store, other);
    const last = await appendOther(store, other);
    await collector.until('a checkpoint past the other writes', (ms) =>
      checkpoints(ms).some((p) => comparePositions(p, last) > 0),
    );

    expect(collector.events()).toEqual([]);
    const reached = checkpoints(collector.messages).at(-1)!;
    // Everything up to and including a whole transaction: the horizon form of a checkpoint.
    expect(reached.prepare).toBe(MAX_PREPARE);
    const positions = checkpoints(collector.messages);
    for (let i = 1; i < positions.length; i += 1) {
      expect(comparePositions(positions[i - 1], positions[i])).toBe(-1);
    }
  });

  it('resumes from a checkpoint strictly after it', async () => {
    const store = newStore({ pollIntervalMs: 50 });
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const first = collect(store, { fromPosition: 'start', filter: { organisationId } });
    await first.untilCaughtUp();
    const before = newEvents(organisationId, 3);
    await store.appendToStream(stream, before, { expectedRevision: 'no_stream' });
    const otherEnd = await appendOther(store, randomUUID());
    await first.untilEvents(ids(before));
    await first.until('a checkpoint after them', (ms) =>
      checkpoints(ms).some((p) => comparePositions(p, otherEnd) > 0),
    );
    const resumeFrom = checkpoints(first.messages).at(-1)!;
    await first.close();

    const after = newEvents(organisationId, 2);
    await store.appendToStream(stream, after, { expectedRevision: 2n });
    const resumed = collect(store, { fromPosition: resumeFrom, filter: { organisationId } });
    await resumed.untilEvents(ids(after));
    await resumed.untilCaughtUp();

    expect(ids(resumed.events())).toEqual(ids(after));
    for (const event of resumed.events()) {
      expect(comparePositions(event.position, resumeFrom)).toBe(1);
    }
  });

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // A wake-up that finds nothing (the listener's first one included) makes the subscription look
  // again every few milliseconds while a committed transaction hides behind an older one; that is
  // over within this, alone on the cluster, which leaves the NOTIFY as the only way to deliver.
  const RECHECKS_OVER_MS = 600;
  // The poll comes this long after caught-up, past the deadline below, so a delivery within the
  // deadline came from a NOTIFY. The deadline is generous because another test file's open write
  // transaction holds back every reader's horizon in the cluster until it ends.
  const NO_POLL_MS = 25_000;
  const deliveredWithoutPoll = (collector: SubscriptionCollector, eventIds: string[]) =>
    collector.until(
      `${eventIds.length} events`,
      () => {
        const seen = new Set(collector.events().map((e) => e.eventId));
        return eventIds.every((id) => seen.has(id));
      },
      20_000,
    );

  it('is woken by NOTIFY without waiting for the poll', async () => {
    const store = newStore({ pollIntervalMs: NO_POLL_MS });
    const organisationId = randomUUID();
    const collector = collect(store, { fromPosition: 'end', filter: { organisationId } });
    await collector.untilCaughtUp();
    await pause(RECHECKS_OVER_MS);

    const live = newEvents(organisationId, 1);
    await store.appendToStream(newContactStream(organisationId), live, {
      expectedRevision: 'no_stream',
    });

    await deliveredWithoutPoll(collector, ids(live));
  });

  it('listens again after losing its LISTEN connection', async () => {
    const store = newStore({ pollIntervalMs: NO_POLL_MS });
    const organisationId = randomUUID();
    const collector = collect(store, { fromPosition: 'end', filter: { organisationId } });
    await collector.untilCaughtUp();
    // Only sessions of one's own role show their query text.
    const listeners = async () =>
      (
        await db.app.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND query = 'LISTEN beecastle_events'`,
        )
      ).rows.map((r) => r.pid);
    const waitForListener = async (not?: number): Promise<number> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const pids = (await listeners()).filter((pid) => pid !== not);
        if (pids.length === 1) return pids[0];
        if (Date.now() > deadline) throw new Error(`listeners: ${pids.join(', ')}`);
        await pause(20);
      }
    };
    const first = await waitForListener();

    // The application role may end its own sessions.
    await db.app.query('SELECT pg_terminate_backend($1)', [first]);
    const second = await waitForListener(first);
    expect(await listeners()).toEqual([second]);
    await pause(RECHECKS_OVER_MS);
    const live = newEvents(organisationId, 1);
    await store.appendToStream(newContactStream(organisationId), live, {
      expectedRevision: 'no_stream',
    });

    await deliveredWithoutPoll(collector, ids(live));
  });

  it('reads at most one page ahead of what the consumer has taken', async () => {
    const organisationId = randomUUID();
    const seeding = newStore();
    for (let i = 0; i < 3; i += 1) {
      await seeding.appendToStream(
        newContactStream(organisationId),
        newEvents(organisationId, 10),
        {
          expectedRevision: 'no_stream',
        },
      );
    }
    const store = newStore({ pageSize: 10 });
    // Until all 30 sit below the horizon, pages could come back short and be asked for again.
    expect(await store.readAll({ filter: { organisationId } })).toHaveLength(30);
    const read = jest.spyOn(readEvents, 'readSubscriptionPage');
    const pages = () => read.mock.calls.length;
    const iterator = store
      .subscribeToAll({ fromPosition: 'start', filter: { organisationId } })
      [Symbol.asyncIterator]();

    expect(pages()).toBe(0);
    // After a full page, the next is read while the consumer takes it (when exactly depends on
    // the pool handing out a connection), but never the one after.
    for (let i = 0; i < 10; i += 1) await iterator.next();
    expect(pages()).toBeGreaterThanOrEqual(1);
    expect(pages()).toBeLessThanOrEqual(2);
    await iterator.next();
    expect(pages()).toBeGreaterThanOrEqual(2);
    expect(pages()).toBeLessThanOrEqual(3);
    for (let i = 0; i < 19; i += 1) await iterator.next();
    expect(pages()).toBeGreaterThanOrEqual(3);
    expect(pages()).toBeLessThanOrEqual(4);
    const caughtUp = await iterator.next();
    expect(caughtUp.value).toMatchObject({ kind: 'caughtUp' });
    expect(pages()).toBeGreaterThanOrEqual(4);
    await iterator.return!();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('hands over what it holds at once, in order, as next() would, up to a maximum', async () => {
    const organisationId = randomUUID();
    const seeding = newStore();
    const written: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const events = newEvents(organisationId, 5);
      written.push(...ids(events));
      await seeding.appendToStream(newContactStream(organisationId), events, {
        expectedRevision: 'no_stream',
      });
    }
    const store = newStore({ pageSize: 10 });
    expect(await store.readAll({ filter: { organisationId } })).toHaveLength(15);
    const subscription = store.subscribeToAll({
      fromPosition: 'start',
      filter: { organisationId },
    });
    // Nothing read yet: nothing to hand over, and nothing is lost by asking.
    expect(subscription.takeBuffered!(100)).toEqual([]);
    const iterator = subscription[Symbol.asyncIterator]();
    const taken: SubscriptionMessage[] = [(await iterator.next()).value as SubscriptionMessage];
    // The rest of the first page (10 events), at most 4 at a time, then nothing until next().
    taken.push(...subscription.takeBuffered!(4));
    expect(taken).toHaveLength(5);
    taken.push(...subscription.takeBuffered!(100));
    expect(taken).toHaveLength(10);
    expect(subscription.takeBuffered!(100)).toEqual([]);
    while (!taken.some((m) => m.kind === 'caughtUp')) {
      const { value } = await iterator.next();
      taken.push(value as SubscriptionMessage, ...subscription.takeBuffered!(100));
    }
    expect(taken.map((m) => (m.kind === 'event' ? m.event.eventId : m.kind))).toEqual([
      ...written,
      'caughtUp',
    ]);
    await subscription.close();
    expect(subscription.takeBuffered!(100)).toEqual([]);
  });
});
