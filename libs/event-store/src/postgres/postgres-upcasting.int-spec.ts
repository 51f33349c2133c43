import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { jsonBytes, newContactStream, newEvent } from '../contract/test-events';
import { encodeMetadata } from '../append-validation';
import { GENESIS_HASH, computeEventHash } from '../hash-chain';
import { UpcasterRegistry, UpcastingEventStore } from '../upcasting-event-store';
import { PostgresEventStore } from './postgres-event-store';
import { verifyEventLog } from './verify-event-log';

jest.setTimeout(30_000);

describe('old-schema events in PostgreSQL', () => {
  let db: TestDatabase;
  let inner: PostgresEventStore;
  let store: UpcastingEventStore;

  // v1 kept the whole name in one field; v2 splits it.
  const registry = new UpcasterRegistry([
    {
      type: 'ContactCreated',
      fromVersion: 1,
      upcast: (data) => {
        const { name } = data as { name: string };
        const [firstName, lastName] = name.split(' ');
        return { data: { firstName, lastName } };
      },
    },
  ]);

  beforeAll(async () => {
    db = await createTestDatabase();
    inner = new PostgresEventStore(db.app, { pollIntervalMs: 100 });
    store = new UpcastingEventStore(inner, registry);
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('reads a v1 event written by a raw insert back as v2, and the log keeps the v1 bytes', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const event = newEvent(organisationId, {
      type: 'ContactCreated',
      schemaVersion: 1,
      data: jsonBytes({ name: 'Ada Lovelace' }),
    });
    // As an old release would have written it, chain link and all, straight into the table.
    const recordedAt = new Date('2023-05-01T10:00:00.123Z');
    const metadata = encodeMetadata(event);
    const hash = computeEventHash(GENESIS_HASH, {
      streamId: stream,
      revision: 0n,
      eventId: event.eventId,
      type: event.type,
      schemaVersion: 1,
      organisationId,
      recordedAtMicros: BigInt(recordedAt.getTime()) * 1000n,
      metadata,
      data: event.data,
    });
    await db.owner.query(
      `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data,
                           metadata, actor_id, recorded_at, prev_hash, hash)
       VALUES ($1, $2, 0, $3, $4, 1, $5, $6, $7, $8, $9, $10)`,
      [
        organisationId,
        stream,
        event.eventId,
        event.type,
        event.data,
        metadata,
        event.metadata.actorId,
        recordedAt,
        GENESIS_HASH,
        hash,
      ],
    );

    const [fromStream] = await store.readStream(stream);
    const [fromAll] = await store.readAll({ filter: { organisationId } });
    const subscription = new SubscriptionCollector(
      store.subscribeToAll({ filter: { organisationId } }),
    );
    const [fromSubscription] = (await subscription.untilEvents([event.eventId])).flatMap((m) =>
      m.kind === 'event' ? [m.event] : [],
    );
    await subscription.close();

    for (const read of [fromStream, fromAll, fromSubscription]) {
      expect(read.schemaVersion).toBe(2);
      expect(JSON.parse(Buffer.from(read.data).toString('utf8'))).toEqual({
        firstName: 'Ada',
        lastName: 'Lovelace',
      });
      expect(read.recordedAt).toEqual(recordedAt);
    }
    const [stored] = await inner.readStream(stream);
    expect(stored.schemaVersion).toBe(1);
    expect(Buffer.from(stored.data).equals(event.data)).toBe(true);
    expect(await verifyEventLog(db.app, { organisationId })).toMatchObject({ ok: true });
  });

  it('upcasts a v1 event appended through the store, and leaves v2 events alone', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const v1 = newEvent(organisationId, {
      type: 'ContactCreated',
      schemaVersion: 1,
      data: jsonBytes({ name: 'Grace Hopper' }),
    });
    const v2 = newEvent(organisationId, {
      type: 'ContactCreated',
      schemaVersion: 2,
      data: jsonBytes({ firstName: 'Alan', lastName: 'Turing' }),
    });
    await store.appendToStream(stream, [v1, v2], { expectedRevision: 'no_stream' });

    const read = await store.readStream(stream);

    expect(read.map((e) => e.schemaVersion)).toEqual([2, 2]);
    expect(read.map((e) => JSON.parse(Buffer.from(e.data).toString('utf8')) as unknown)).toEqual([
      { firstName: 'Grace', lastName: 'Hopper' },
      { firstName: 'Alan', lastName: 'Turing' },
    ]);
  });
});
