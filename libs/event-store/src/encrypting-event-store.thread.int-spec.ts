import { randomUUID } from 'node:crypto';
import { ThreadedDecryption } from '@beecastle/crypto';
import { describeEventStoreContract } from './contract/event-store.contract';
import { jsonBytes, newEvent, contactSubjectOf } from './contract/test-events';
import { EncryptingEventStore, PayloadDecryptionError } from './encrypting-event-store';
import type { RecordedEvent, StreamAppend } from './event-store.port';
import { PostgresEventStore } from './postgres/postgres-event-store';
import { streamName } from './stream-name';
import { productKeyring, useEncryptedTestDatabase } from './testing/encrypted-test-log';

jest.setTimeout(30_000);

const subjectOf = contactSubjectOf;

const t = useEncryptedTestDatabase();

/** The encrypted log as the product wires it, opening subscriptions' payloads on a thread. */
async function threadedStore(pageSize = 1_000) {
  const inner = new PostgresEventStore(t.db.app, { pollIntervalMs: 100, pageSize });
  const { keyring } = await productKeyring(t.db);
  const store = new EncryptingEventStore(inner, keyring, subjectOf, {
    storeNewKeysWithAppends: true,
    decryptOnThread: true,
  });
  t.closeAfter(async () => {
    await store.close();
    await keyring.close();
  });
  return { inner, keyring, store };
}

/** `contacts` new contacts of `perContact` events each, in one append; answers the streams. */
async function contacts(
  store: EncryptingEventStore,
  organisationId: string,
  count: number,
  perContact: number,
): Promise<string[]> {
  const appends: StreamAppend[] = Array.from({ length: count }, () => ({
    stream: streamName('contact', organisationId, randomUUID()),
    events: Array.from({ length: perContact }, (_, n) =>
      newEvent(organisationId, { data: jsonBytes({ n, name: 'Ada Lovelace ✓' }) }),
    ),
    expectedRevision: 'no_stream',
  }));
  await store.appendToStreams(appends);
  return appends.map((a) => a.stream);
}

/** Every event of the organisation through a subscription from the start, until caught up. */
async function subscribed(store: EncryptingEventStore, organisationId: string) {
  const events: RecordedEvent[] = [];
  const subscription = store.subscribeToAll({ filter: { organisationId } });
  try {
    for await (const message of subscription) {
      if (message.kind === 'caughtUp') break;
      if (message.kind === 'event') events.push(message.event);
    }
  } finally {
    await subscription.close();
  }
  return events;
}

// Pages of three: batches too small to hand over, so the contract holds on the usual path too.
describeEventStoreContract(
  'PostgreSQL, encrypted, subscriptions opening payloads on a thread',
  async () => {
    const { store } = await threadedStore(3);
    return { store, teardown: () => Promise.resolve() };
  },
  { setsKeyId: true },
);

describe('subscriptions opening payloads on a thread', () => {
  it('deliver what readAll delivers, byte for byte, in big batches', async () => {
    const { store } = await threadedStore();
    const org = randomUUID();
    await contacts(store, org, 60, 10);
    await contacts(store, org, 60, 10);
    const delivered = await subscribed(store, org);
    const read = await store.readAll({ filter: { organisationId: org } });
    expect(delivered).toHaveLength(1_200);
    expect(delivered.map((e) => e.eventId)).toEqual(read.map((e) => e.eventId));
    delivered.forEach((event, i) => {
      expect(Buffer.from(event.data).equals(Buffer.from(read[i].data))).toBe(true);
    });
    expect(JSON.parse(Buffer.from(delivered[0].data).toString('utf8'))).toEqual({
      n: 0,
      name: 'Ada Lovelace ✓',
    });
  });

  it('deliver an erased subject’s events as erased, the rest opened', async () => {
    const { store, keyring } = await threadedStore();
    const org = randomUUID();
    const streams = await contacts(store, org, 50, 4);
    const erased = streams[7].split('.')[1];
    await keyring.destroy(org, erased);
    const delivered = await subscribed(store, org);
    expect(delivered).toHaveLength(200);
    for (const event of delivered) {
      if (event.streamId === streams[7]) {
        expect(event.erased).toBe(true);
        expect(event.data).toHaveLength(0);
      } else {
        expect(event.erased).toBeUndefined();
        expect(JSON.parse(Buffer.from(event.data).toString('utf8'))).toHaveProperty('name');
      }
    }
  });

  it('fail loudly on a payload that does not open, naming it', async () => {
    const { store } = await threadedStore();
    const org = randomUUID();
    const streams = await contacts(store, org, 40, 3);
    // A thief with write access flips a byte of one payload (as the owner, around the log's rules).
    const { rows } = await t.db.owner.query<{ event_id: string }>(
      `SELECT event_id::text FROM events WHERE stream_id = $1 AND revision = 1`,
      [streams[20]],
    );
    await t.db.owner.query('ALTER TABLE events DISABLE TRIGGER USER');
    try {
      await t.db.owner.query(
        `UPDATE events SET data = overlay(data placing '\\xff'::bytea from 30 for 1)
          WHERE event_id = $1`,
        [rows[0].event_id],
      );
    } finally {
      await t.db.owner.query('ALTER TABLE events ENABLE TRIGGER USER');
    }
    const error = await subscribed(store, org).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect(error).toMatchObject({ eventId: rows[0].event_id, streamId: streams[20] });
  });

  it('open batches in place when the thread fails', async () => {
    const { store } = await threadedStore();
    const org = randomUUID();
    await contacts(store, org, 30, 5);
    // Its thread is gone for good: every hand-over fails.
    await (store as unknown as { thread: ThreadedDecryption }).thread.close();
    const delivered = await subscribed(store, org);
    expect(delivered).toHaveLength(150);
    const read = await store.readAll({ filter: { organisationId: org } });
    delivered.forEach((event, i) => {
      expect(Buffer.from(event.data).equals(Buffer.from(read[i].data))).toBe(true);
    });
  });

  it('start a new thread after the old one failed', async () => {
    const thread = new ThreadedDecryption();
    t.closeAfter(() => thread.close());
    await expect(thread.open([])).resolves.toEqual([]);
    // Its worker is gone (killed): the next batch starts another.
    const worker = (thread as unknown as { worker: { terminate(): Promise<number> } }).worker;
    await worker.terminate();
    await expect(thread.open([])).resolves.toEqual([]);
  });
});
