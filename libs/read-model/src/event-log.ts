import type { Pool } from 'pg';
import {
  Keyring,
  PostgresKeyStore,
  ThreadedDecryption,
  type MasterKeyProvider,
  type PayloadKeyring,
} from '@beecastle/crypto';
import { createPool } from '@beecastle/database';
import { dataKeySubject } from '@beecastle/domain';
import {
  EncryptingEventStore,
  PostgresEventStore,
  type EncryptingEventStoreOptions,
  type EventStore,
  type PostgresEventStoreOptions,
} from '@beecastle/event-store';

/**
 * Any adapter, encrypted as the product encrypts: each payload under its subject's data key. Pass
 * `storeNewKeysWithAppends` only when the keyring's key store is the adapter's own database.
 */
export function encryptEventStore(
  inner: EventStore,
  keyring: PayloadKeyring,
  options: EncryptingEventStoreOptions = {},
): EventStore {
  return new EncryptingEventStore(inner, keyring, dataKeySubject, options);
}

export interface EventLog {
  /** The log as everything above the adapters sees it: payloads in the clear, stored encrypted. */
  readonly store: EventStore;
  /** Its keys: for erasure (`destroy`) and the start-up check of the master key. */
  readonly keyring: Keyring;
  close(): Promise<void>;
}

export interface EventLogOptions extends PostgresEventStoreOptions {
  readonly masterKey: MasterKeyProvider;
  /**
   * Another log's keyring (under the same master key) to use instead of a new one: the projector
   * inside the API process shares the API's, so a contact's key that a command has just made is
   * already unwrapped in memory when its event is projected, rather than read back from the key
   * store once per batch. Its owner closes it.
   */
  readonly keyring?: Keyring;
  /**
   * Subscriptions open payloads on a worker thread (EncryptingEventStoreOptions.decryptOnThread):
   * for the projector, whose catch-up after a rebuild or an import reads long runs of the log.
   */
  readonly decryptOnThread?: boolean;
}

/**
 * The event log as the API, the projector and the CLI open it: the PostgreSQL adapter under the
 * encryption layer, with the key store on the same pool. With `listenConnectionString`, both
 * listen: the log for appends, the key store for keys destroyed by other processes (without it,
 * data keys are not cached, so an erasure elsewhere still takes effect at once).
 */
export function openEventLog(pool: Pool, options: EventLogOptions): EventLog {
  const { masterKey, keyring: shared, decryptOnThread, ...storeOptions } = options;
  if (shared && shared.masterKeyId !== masterKey.keyId) {
    throw new Error('A shared keyring must be under the same master key as the event log');
  }
  const inner = new PostgresEventStore(pool, storeOptions);
  // One thread opens both the payloads and, when a page needs hundreds of them, their data keys.
  const thread = decryptOnThread ? new ThreadedDecryption() : undefined;
  const keyring =
    shared ??
    new Keyring(
      new PostgresKeyStore(pool, {
        listenConnectionString: options.listenConnectionString,
        // The log is this same PostgreSQL: its appends flush new keys' commits (see the option).
        newKeyCommits: 'flushed-by-event-log',
      }),
      masterKey,
      { bulkOpener: thread },
    );
  const store = encryptEventStore(inner, keyring, {
    // Its own key store is this pool's database: a new contact's key goes with its first append.
    // A shared keyring's store is another log's, which this one cannot vouch for.
    storeNewKeysWithAppends: !shared,
    decryptOnThread: thread,
  });
  return {
    store,
    keyring,
    close: async () => {
      await store.close();
      if (!shared) await keyring.close();
    },
  };
}

/**
 * Fails closed (MasterKeyMismatchError, saying what to do) unless `masterKey` is the one this
 * database's keys are sealed with; an empty key store takes it as its first. For processes that
 * check before they start work, as the projector does.
 */
export async function assertMasterKey(
  databaseUrl: string,
  masterKey: MasterKeyProvider,
): Promise<void> {
  const pool = createPool(databaseUrl, { applicationName: 'beecastle-key-check', max: 1 });
  const keyring = new Keyring(new PostgresKeyStore(pool), masterKey);
  try {
    await keyring.assertMasterKey();
  } finally {
    await keyring.close();
    await pool.end();
  }
}
