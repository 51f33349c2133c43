import { randomUUID } from 'node:crypto';
import { Keyring, PostgresKeyStore } from '@beecastle/crypto';
import { testMasterKeyProvider } from '../../crypto/src/testing/test-master-key';
import { withOrganisation } from '../../database/src/organisation-scope';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { describeEventStoreContract } from './contract/event-store.contract';
import { jsonBytes, newEvent, contactSubjectOf } from './contract/test-events';
import { EncryptingEventStore } from './encrypting-event-store';
import { PostgresEventStore } from './postgres/postgres-event-store';
import { verifyEventLog } from './postgres/verify-event-log';
import { streamName } from './stream-name';

jest.setTimeout(30_000);

const subjectOf = contactSubjectOf;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

function encryptedStore(options: { pageSize?: number; keysWithAppends?: boolean } = {}) {
  const { keysWithAppends = true, ...storeOptions } = options;
  const inner = new PostgresEventStore(db.app, { pollIntervalMs: 100, ...storeOptions });
  // As the product wires it (openEventLog): the log is this PostgreSQL, which stores a new
  // subject's key with its first append, and flushes the others' keys.
  const keyring = new Keyring(
    new PostgresKeyStore(db.app, {
      listenConnectionString: db.appUrl,
      newKeyCommits: 'flushed-by-event-log',
    }),
    testMasterKeyProvider(),
  );
  return {
    store: new EncryptingEventStore(inner, keyring, subjectOf, {
      storeNewKeysWithAppends: keysWithAppends,
    }),
    keyring,
    close: async () => {
      await inner.close();
      await keyring.close();
    },
  };
}

// Pages of three: subscriptions decrypt batch by batch across page boundaries. Once as the product
// wires it, once with every key from the key store's own statement (another database's log would).
describeEventStoreContract(
  'PostgreSQL, encrypted',
  () => {
    const { store, close } = encryptedStore({ pageSize: 3 });
    return Promise.resolve({ store, teardown: close });
  },
  { setsKeyId: true },
);
describeEventStoreContract(
  'PostgreSQL, encrypted, keys stored apart from appends',
  () => {
    const { store, close } = encryptedStore({ pageSize: 3, keysWithAppends: false });
    return Promise.resolve({ store, teardown: close });
  },
  { setsKeyId: true },
);

describe('the encrypted log in PostgreSQL', () => {
  it('holds no plaintext of a payload in any column, and verifies without keys', async () => {
    const { store, keyring, close } = encryptedStore();
    try {
      const organisationId = randomUUID();
      const contactId = randomUUID();
      const stream = streamName('contact', organisationId, contactId);
      const canaries = {
        firstName: `Canary${randomUUID().slice(0, 8)}`,
        email: `canary-${randomUUID().slice(0, 8)}@example.test`,
        phone: '+44 20 7946 0991',
        notes: `likes ${randomUUID()}`,
      };
      await store.appendToStream(
        stream,
        [newEvent(organisationId, { data: jsonBytes(canaries) })],
        { expectedRevision: 'no_stream' },
      );
      const [read] = await store.readStream(stream);
      expect(JSON.parse(Buffer.from(read.data).toString('utf8'))).toEqual(canaries);

      // As the schema owner, every column of the log and the heads, as text and as raw bytes.
      const { rows } = await db.owner.query<{ row: string; data: Buffer; metadata: Buffer }>(
        `SELECT e::text AS row, e.data, e.metadata FROM events e WHERE org_id = $1
         UNION ALL SELECT s::text, NULL, NULL FROM streams s WHERE org_id = $1`,
        [organisationId],
      );
      expect(rows).toHaveLength(2);
      for (const { row, data, metadata } of rows) {
        for (const canary of Object.values(canaries)) {
          expect(row).not.toContain(canary);
          for (const bytes of [data, metadata]) {
            if (bytes) expect(bytes.includes(Buffer.from(canary, 'utf8'))).toBe(false);
          }
        }
      }

      // Erasure leaves the chain as it was: verify needs no keys, and passes.
      await keyring.destroy(organisationId, contactId);
      const [erased] = await store.readStream(stream);
      expect(erased.erased).toBe(true);
      await expect(verifyEventLog(db.app, { organisationId })).resolves.toMatchObject({
        ok: true,
        eventsChecked: 1,
      });
    } finally {
      await close();
    }
  });

  // Why a new key may commit unflushed (PostgresKeyStore's newKeyCommits): an append that writes
  // nothing acknowledges events that were there before, under a key that was there before them.
  it('gives no subject a new key on an exact retry, even in a process that knows no keys', async () => {
    const organisationId = randomUUID();
    const contactId = randomUUID();
    const stream = streamName('contact', organisationId, contactId);
    const events = [newEvent(organisationId), newEvent(organisationId)];
    const first = encryptedStore();
    const again = encryptedStore();
    const keys = () =>
      withOrganisation(db.owner, organisationId, async (client) => {
        const { rows } = await client.query<{ subject_id: string; created_at: Date }>(
          'SELECT subject_id, created_at FROM data_keys ORDER BY subject_id',
        );
        return rows;
      });
    try {
      const appended = await first.store.appendToStream(stream, events, {
        expectedRevision: 'no_stream',
      });
      const before = await keys();
      expect(before.map((k) => k.subject_id)).toEqual([contactId]);
      const retried = await again.store.appendToStream(stream, events, {
        expectedRevision: 'no_stream',
      });
      expect(retried).toEqual(appended);
      expect(await keys()).toEqual(before);
    } finally {
      await first.close();
      await again.close();
    }
  });
});
