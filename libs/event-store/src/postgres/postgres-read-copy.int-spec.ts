import { randomUUID } from 'node:crypto';
import { newContactStream, newEvent, newEvents } from '../contract/test-events';
import type { RecordedEvent, Subscription } from '../event-store.port';
import { createPool } from '../../../database/src/pool';
import { PostgresEventStore } from './postgres-event-store';
import { usePostgresTestStore } from './testing/postgres-test-store';

jest.setTimeout(60_000);

/** Global reads arrive by binary COPY (read-events.ts); stream reads by rows. They must agree. */
describe('PostgresEventStore global reads by binary COPY', () => {
  const t = usePostgresTestStore({ pageSize: 4 });

  async function untilCaughtUp(subscription: Subscription): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    for await (const message of subscription) {
      if (message.kind === 'caughtUp') break;
      if (message.kind === 'event') events.push(message.event);
    }
    await subscription.close();
    return events;
  }

  it('decodes every field as a stream read does, binary payloads included', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const payloads = [
      Buffer.from([0x00, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x0a, 0x5c, 0x00]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.alloc(0),
      Buffer.alloc(70_000, 0xab), // larger than one CopyData chunk of the socket
      Buffer.from('{"name":"Zoë 👩‍👩‍👧 𝄞"}', 'utf8'),
    ];
    await t.store.appendToStream(
      stream,
      payloads.map((data, i) =>
        newEvent(organisationId, {
          data,
          type: `Contact.v${i}:x-y_z`,
          schemaVersion: 32_000 + i,
        }),
      ),
      { expectedRevision: 'no_stream' },
    );

    const fromStream = await t.store.readStream(stream);
    const fromAll = await t.store.readAll({ filter: { organisationId } });
    const subscribed = await untilCaughtUp(t.store.subscribeToAll({ filter: { organisationId } }));
    const backwards = await t.store.readAll({ filter: { organisationId }, direction: 'backwards' });

    expect(fromStream).toHaveLength(payloads.length);
    expect(fromAll).toEqual(fromStream);
    expect(subscribed).toEqual(fromStream);
    expect(backwards).toEqual([...fromStream].reverse());
    expect(fromAll.map((e) => Buffer.from(e.data).toString('hex'))).toEqual(
      payloads.map((p) => p.toString('hex')),
    );
  });

  it('quotes filter values: types with quotes and backslashes, and no types at all', async () => {
    const organisationId = randomUUID();
    const types = ['ContactCreated', 'ContactNoted', 'ContactArchived'];
    const written = types.map((type) => newEvent(organisationId, { type }));
    await t.store.appendToStream(newContactStream(organisationId), written, {
      expectedRevision: 'no_stream',
    });
    // Filter values are any strings: those that are no type match nothing and break nothing.
    const filter = {
      organisationId,
      eventTypes: [
        'ContactArchived',
        "It's",
        'back\\slash',
        "'); DROP TABLE events; --",
        'ContactCreated',
      ],
    };

    const read = await t.store.readAll({ filter });
    const subscribed = await untilCaughtUp(t.store.subscribeToAll({ filter }));

    expect(read.map((e) => e.type)).toEqual(['ContactCreated', 'ContactArchived']);
    expect(subscribed.map((e) => e.type)).toEqual(['ContactCreated', 'ContactArchived']);
    expect(await t.store.readAll({ filter: { organisationId, eventTypes: [] } })).toEqual([]);
  });

  it('refuses an organisation filter that is not a uuid, as a parameter would', async () => {
    await expect(
      t.store.readAll({ filter: { organisationId: "x'; SELECT 1; --" } }),
    ).rejects.toThrow(/uuid/);
  });

  it('gives back the connection it holds while catching up, once caught up or closed', async () => {
    const organisationId = randomUUID();
    await t.store.appendToStream(newContactStream(organisationId), newEvents(organisationId, 20), {
      expectedRevision: 'no_stream',
    });
    // Subscriptions on a pool of their own. On the appending store's pool, the wake-up it sends
    // after each commit (commit-notifier.ts) runs in the background, at times still opening a
    // connection (the previous test's failed query had closed one) when the count was taken,
    // and was then counted as the subscription's.
    const pool = createPool(t.db.appUrl, { applicationName: 'read-copy-subscriptions', max: 4 });
    const readers = new PostgresEventStore(pool, { pageSize: 4 });
    const inUse = () => pool.totalCount - pool.idleCount;
    // Given back at once, give or take a page read in flight: a generous deadline for a loaded
    // machine, and a connection never given back still fails.
    const settled = async () => {
      const deadline = Date.now() + 5_000;
      while (inUse() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return inUse();
    };
    try {
      expect(
        await untilCaughtUp(readers.subscribeToAll({ filter: { organisationId } })),
      ).toHaveLength(20);
      expect(await settled()).toBe(0);

      const subscription = readers.subscribeToAll({ filter: { organisationId } });
      const iterator = subscription[Symbol.asyncIterator]();
      for (let i = 0; i < 6; i += 1) await iterator.next();
      expect(inUse()).toBeGreaterThan(0);
      await subscription.close();
      expect(await settled()).toBe(0);
    } finally {
      await readers.close();
      await pool.end();
    }
  });
});
