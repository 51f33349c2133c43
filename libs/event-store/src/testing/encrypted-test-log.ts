import { Keyring, PostgresKeyStore } from '@beecastle/crypto';
import { testMasterKeyProvider } from '../../../crypto/src/testing/test-master-key';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';

export interface EncryptedTestDatabase {
  /** A fresh migrated database of this file's own. */
  readonly db: TestDatabase;
  /** Closed after the last test, last registered first, before the database is dropped. */
  closeAfter(close: () => Promise<void>): void;
}

/** Declares the file's beforeAll/afterAll: a database, and what its tests open on it, closed. */
export function useEncryptedTestDatabase(): EncryptedTestDatabase {
  let db: TestDatabase | undefined;
  const closing: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('useEncryptedTestDatabase: used outside a test');
      return db;
    },
    closeAfter: (close) => closing.push(close),
  };
}

/** Waits, up to 5 s, until `check` holds. */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The key store and keyring as openEventLog wires them (the log in the same PostgreSQL, listening
 * for destructions), once the feed is heard, so that data keys are cached as in the product.
 */
export async function productKeyring(
  db: TestDatabase,
): Promise<{ keyStore: PostgresKeyStore; keyring: Keyring }> {
  const keyStore = new PostgresKeyStore(db.app, {
    listenConnectionString: db.appUrl,
    newKeyCommits: 'flushed-by-event-log',
  });
  const keyring = new Keyring(keyStore, testMasterKeyProvider());
  await eventually(() => keyStore.destructions!.watching(), 'the destruction feed');
  return { keyStore, keyring };
}
