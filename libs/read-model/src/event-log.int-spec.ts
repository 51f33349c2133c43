import { randomUUID } from 'node:crypto';
import {
  Keyring,
  LocalMasterKeyProvider,
  PostgresKeyStore,
  type DataKeyRecord,
} from '@beecastle/crypto';
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
