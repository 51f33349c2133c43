import { randomUUID } from 'node:crypto';
import {
  Keyring,
  LocalMasterKeyProvider,
  PostgresKeyStore,
  SubjectErasedError,
  type DataKeyRecord,
} from '@beecastle/crypto';
import { withOrganisation } from '@beecastle/database';
import { WrongExpectedVersionError, streamName } from '@beecastle/event-store';
import { testMasterKeyProvider } from '../../crypto/src/testing/test-master-key';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { newContactStream, newEvent } from '../../event-store/src/contract/test-events';
import { openEventLog } from './event-log';

/** The real key store, counting the reads of data keys that a keyring's cache did not answer. */
class CountingKeyStore extends PostgresKeyStore {
  dataKeyReads = 0;

  override dataKeys(
    organisationId: string,
    subjectIds: readonly string[],
  ): Promise<DataKeyRecord[]> {
    this.dataKeyReads += 1;
    return super.dataKeys(organisationId, subjectIds);
  }
}

describe('openEventLog with a shared keyring (the in-process projector)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('reads what its keyring has just written without reading the key back, and leaves it open', async () => {
    const store = new CountingKeyStore(db.app, { listenConnectionString: db.appUrl });
    const keyring = new Keyring(store, testMasterKeyProvider());
    const writer = openEventLog(db.app, { masterKey: testMasterKeyProvider(), keyring });
    const reader = openEventLog(db.app, { masterKey: testMasterKeyProvider(), keyring });
    const separate = openEventLog(db.app, { masterKey: testMasterKeyProvider() });
    try {
      expect(reader.keyring).toBe(keyring);
      const org = randomUUID();
      const stream = newContactStream(org);
      const event = newEvent(org);
      // A keyring caches data keys only while it hears of destructions.
      for (let waited = 0; !store.destructions?.watching(); waited += 10) {
        if (waited > 5_000) throw new Error('the key store never started listening');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await writer.store.appendToStream(stream, [event], { expectedRevision: 'no_stream' });

      const [read] = await reader.store.readStream(stream);
      expect(Buffer.from(read.data).equals(Buffer.from(event.data))).toBe(true);
      expect(store.dataKeyReads).toBe(0);

      // A log with a keyring of its own has to fetch the key: what the sharing saves.
      const [again] = await separate.store.readStream(stream);
      expect(Buffer.from(again.data).equals(Buffer.from(event.data))).toBe(true);

      // Closing a log that borrowed the keyring does not close it for its owner.
      const closeSpy = jest.spyOn(keyring, 'close');
      await reader.close();
      expect(closeSpy).not.toHaveBeenCalled();
      const [stillReadable] = await writer.store.readStream(stream);
      expect(Buffer.from(stillReadable.data).equals(Buffer.from(event.data))).toBe(true);
    } finally {
      await writer.close();
      await separate.close();
      await keyring.close();
    }
  });

  it('refuses a keyring under another master key', () => {
    const keyring = new Keyring(new PostgresKeyStore(db.app), testMasterKeyProvider());
    const other = new LocalMasterKeyProvider(Buffer.alloc(32, 7), 'another key');
    expect(() => openEventLog(db.app, { masterKey: other, keyring })).toThrow(/same master key/);
  });
});

describe('openEventLog: a new subject’s key stored with its first append', () => {
  let db: TestDatabase;
  const logs: { close(): Promise<void> }[] = [];
  const open = () => {
    const log = openEventLog(db.app, {
      masterKey: testMasterKeyProvider(),
      listenConnectionString: db.appUrl,
    });
    logs.push(log);
    return log;
  };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await Promise.all(logs.map((l) => l.close()));
    await db.drop();
  });

  const keyRows = (organisationId: string) =>
    withOrganisation(db.app, organisationId, async (client) => {
      const { rows } = await client.query<{ subject_id: string; destroyed: boolean }>(
        `SELECT subject_id, destroyed_at IS NOT NULL AS destroyed FROM data_keys
          WHERE org_id = $1 ORDER BY subject_id`,
        [organisationId],
      );
      return rows;
    });
  const eventCount = async (organisationId: string) =>
    Number(
      (
        await db.app.query<{ n: string }>(
          'SELECT count(*)::text AS n FROM events WHERE org_id = $1',
          [organisationId],
        )
      ).rows[0].n,
    );

  it('asks the key store for nothing on a create, and another process reads the event', async () => {
    const writer = open();
    const org = randomUUID();
    // The organisation's key is made on its first use; then creates only append.
    await writer.store.appendToStream(newContactStream(org), [newEvent(org)], {
      expectedRevision: 'no_stream',
    });
    const keyStatements = jest.spyOn(PostgresKeyStore.prototype, 'dataKeysForWriting');
    const id = randomUUID();
    const stream = streamName('contact', org, id);
    const event = newEvent(org);
    await writer.store.appendToStream(stream, [event], { expectedRevision: 'no_stream' });
    expect(keyStatements).not.toHaveBeenCalled();
    expect((await keyRows(org)).map((r) => r.subject_id)).toContain(id);
    // Its key is stored and opens it for a process that never saw it.
    const [read] = await open().store.readStream(stream);
    expect(read.metadata.keyId).toBe(`${id}:1`);
    expect(Buffer.from(read.data).equals(Buffer.from(event.data))).toBe(true);
    // The writer keeps it for the contact's next events.
    await writer.store.appendToStream(stream, [newEvent(org)], { expectedRevision: 0n });
    expect(keyStatements).not.toHaveBeenCalled();
  });

  it('uses the key another process gave the subject meanwhile, appending once', async () => {
    const [first, second] = [open(), open()];
    const org = randomUUID();
    const id = randomUUID();
    // The other process made the subject's key (an event of it in another stream, say).
    await first.keyring.keysForWriting(org, [id]);
    const stream = streamName('contact', org, id);
    const event = newEvent(org);
    await second.store.appendToStream(stream, [event], { expectedRevision: 'no_stream' });
    expect(await keyRows(org)).toEqual([{ subject_id: id, destroyed: false }]);
    expect(await eventCount(org)).toBe(1);
    const [read] = await open().store.readStream(stream);
    expect(Buffer.from(read.data).equals(Buffer.from(event.data))).toBe(true);
  });

  it('refuses a new stream for an erased subject, appending nothing and giving it no key', async () => {
    const [eraser, writer] = [open(), open()];
    const org = randomUUID();
    const id = randomUUID();
    await eraser.keyring.destroy(org, id);
    const error = await writer.store
      .appendToStream(streamName('contact', org, id), [newEvent(org)], {
        expectedRevision: 'no_stream',
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(SubjectErasedError);
    expect(await eventCount(org)).toBe(0);
    expect(await keyRows(org)).toEqual([{ subject_id: id, destroyed: true }]);
  });

  it('stores the keys of a multi-stream append’s new streams with it, and none if it fails', async () => {
    const log = open();
    const org = randomUUID();
    const existing = newContactStream(org);
    await log.store.appendToStream(existing, [newEvent(org)], { expectedRevision: 'no_stream' });
    const [a, b] = [randomUUID(), randomUUID()];
    const refused = await log.store
      .appendToStreams([
        {
          stream: streamName('contact', org, a),
          events: [newEvent(org)],
          expectedRevision: 'no_stream',
        },
        { stream: existing, events: [newEvent(org)], expectedRevision: 'no_stream' },
      ])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(WrongExpectedVersionError);
    expect((await keyRows(org)).map((r) => r.subject_id)).not.toContain(a);
    expect(await eventCount(org)).toBe(1);
    await log.store.appendToStreams([
      {
        stream: streamName('contact', org, b),
        events: [newEvent(org)],
        expectedRevision: 'no_stream',
      },
      { stream: existing, events: [newEvent(org)], expectedRevision: 0n },
    ]);
    expect((await keyRows(org)).map((r) => r.subject_id)).toContain(b);
    expect(await eventCount(org)).toBe(3);
  });
});
