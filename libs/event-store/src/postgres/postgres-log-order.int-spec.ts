import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { newContactStream, newEvent, newEvents } from '../contract/test-events';
import type { RecordedEvent } from '../event-store.port';
import { PostgresEventStore } from './postgres-event-store';

// Real PostgreSQL on a possibly loaded machine: waits are for conditions, with generous deadlines.
jest.setTimeout(30_000);

/*
 * The property a sequence-paged reader gets wrong: a transaction that took its global_seq (or xid)
 * early can commit after one that took it later. The reader must neither skip the early one nor
 * show the later one first.
 */
describe('PostgreSQL event log order', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  const collectors: SubscriptionCollector[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // readAll waits only briefly for T1 below: it is held open on purpose.
    store = new PostgresEventStore(db.app, { pollIntervalMs: 100, inFlightWaitMs: 200 });
  });

  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  function subscribe(organisationId: string): SubscriptionCollector {
    const collector = new SubscriptionCollector(
      store.subscribeToAll({ fromPosition: 'start', filter: { organisationId } }),
    );
    collectors.push(collector);
    return collector;
  }

  async function inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await db.app.connect();
    try {
      await client.query('BEGIN');
      return await work(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function waitFor(
    what: string,
    condition: () => boolean,
    timeoutMs = 15_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await pause(10);
    }
  }
  const ids = (events: readonly { eventId: string }[]) => events.map((e) => e.eventId);

  it('delivers exactly the committed events to a live subscriber, in the order readAll gives', async () => {
    const organisationId = randomUUID();
    const subscription = store.subscribeToAll({
      fromPosition: 'start',
      filter: { organisationId },
    });
    // Drains as fast as events come, so the reader keeps paging while transactions are in flight.
    const delivered: RecordedEvent[] = [];
    const draining = (async () => {
      for await (const message of subscription) {
        if (message.kind === 'event') delivered.push(message.event);
      }
    })();
    const shared = [newContactStream(organisationId), newContactStream(organisationId)];
    const committed = new Set<string>();
    const rolledBack = new Set<string>();

    // Four writers; a third of the appends run in an explicit transaction that lingers for a
    // random moment before it commits or rolls back, so commit order keeps diverging from xid
    // order while the subscriber tails the log.
    await Promise.all(
      Array.from({ length: 4 }, async (_, writer) => {
        for (let i = 0; i < 24; i += 1) {
          const stream = i % 4 === 0 ? shared[(writer + i) % 2] : newContactStream(organisationId);
          const events = newEvents(organisationId, 1 + (i % 3));
          await pause(Math.random() * 5);
          if (i % 3 !== 1) {
            await store.appendToStream(stream, events, { expectedRevision: 'any' });
            for (const id of ids(events)) committed.add(id);
            continue;
          }
          const commit = Math.random() < 0.6;
          await inTransaction(async (client) => {
            await store.withClient(client).appendToStream(stream, events, {
              expectedRevision: 'any',
            });
            await pause(5 + Math.random() * 25);
            await client.query(commit ? 'COMMIT' : 'ROLLBACK');
          });
          for (const id of ids(events)) (commit ? committed : rolledBack).add(id);
        }
      }),
    );
    // Last in the log: once it is delivered, anything skipped is skipped for good.
    const sentinel = newEvent(organisationId);
    await store.appendToStream(newContactStream(organisationId), [sentinel], {
      expectedRevision: 'no_stream',
    });
    await waitFor('the sentinel', () => delivered.some((e) => e.eventId === sentinel.eventId));
    await subscription.close();
    await draining;

    const deliveredIds = ids(delivered).filter((id) => id !== sentinel.eventId);
    const logOrder = ids(await store.readAll({ filter: { organisationId } }));
    expect(rolledBack.size).toBeGreaterThan(0);
    expect(deliveredIds.filter((id) => !committed.has(id))).toEqual([]);
    expect([...committed].filter((id) => !deliveredIds.includes(id))).toEqual([]);
    expect(deliveredIds).toHaveLength(committed.size);
    expect([...deliveredIds, sentinel.eventId]).toEqual(logOrder);
  });

  describe('a transaction that appended and stays open', () => {
    it('hides later commits until it ends, then both arrive in xid order', async () => {
      const organisationId = randomUUID();
      const collector = subscribe(organisationId);
      await collector.untilCaughtUp();
      const early = newEvent(organisationId);
      const late = newEvent(organisationId);

      await inTransaction(async (t1) => {
        const first = await store
          .withClient(t1)
          .appendToStream(newContactStream(organisationId), [early], { expectedRevision: 'any' });
        const second = await store.appendToStream(newContactStream(organisationId), [late], {
          expectedRevision: 'any',
        });
        expect(first.position.commit).toBeLessThan(second.position.commit);

        // T2 has committed, but T1's xid is below it and T1 might still commit: neither may show.
        expect(await store.readAll({ filter: { organisationId } })).toEqual([]);
        await expect(
          collector.until(
            'any event while T1 is open',
            (ms) => ms.some((m) => m.kind === 'event'),
            700,
          ),
        ).rejects.toThrow(/Timed out/);

        await t1.query('COMMIT');
      });

      await collector.untilEvents([early.eventId, late.eventId]);
      expect(ids(collector.events())).toEqual([early.eventId, late.eventId]);
      expect(ids(await store.readAll({ filter: { organisationId } }))).toEqual([
        early.eventId,
        late.eventId,
      ]);
    });

    it('hides later commits until it rolls back, then only theirs arrive', async () => {
      const organisationId = randomUUID();
      const collector = subscribe(organisationId);
      await collector.untilCaughtUp();
      const doomed = newEvent(organisationId);
      const late = newEvent(organisationId);

      await inTransaction(async (t1) => {
        await store
          .withClient(t1)
          .appendToStream(newContactStream(organisationId), [doomed], { expectedRevision: 'any' });
        await store.appendToStream(newContactStream(organisationId), [late], {
          expectedRevision: 'any',
        });

        expect(await store.readAll({ filter: { organisationId } })).toEqual([]);
        await expect(
          collector.until(
            'any event while T1 is open',
            (ms) => ms.some((m) => m.kind === 'event'),
            700,
          ),
        ).rejects.toThrow(/Timed out/);

        await t1.query('ROLLBACK');
      });

      await collector.untilEvents([late.eventId]);
      // Anything T1 had written would sit before T2's event in the log, so it would have come first.
      expect(ids(collector.events())).toEqual([late.eventId]);
      expect(ids(await store.readAll({ filter: { organisationId } }))).toEqual([late.eventId]);
    });
  });
});
