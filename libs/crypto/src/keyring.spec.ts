import { randomBytes, randomUUID } from 'node:crypto';
import { KeyUnavailableError, MasterKeyMismatchError, SubjectErasedError } from './errors';
import type { DataKeyRecord, DestructionFeed, KeyStore } from './key-store';
import { Keyring, dataKeyId, parseDataKeyId } from './keyring';
import { LocalMasterKeyProvider } from './master-key';
import { InMemoryKeyStore } from './memory-key-store';
import { ThreadedDecryption, type SealedItem } from './threaded-decryption';

const master = () => new LocalMasterKeyProvider(randomBytes(32), 'a test key');

/** Counts the store's reads of data keys, and lets a test say whether destructions are heard. */
class CountingStore extends InMemoryKeyStore {
  dataKeyReads = 0;
  heard = true;

  constructor() {
    super();
    const feed = this.destructions;
    const watched: DestructionFeed = {
      watching: () => this.heard,
      subscribe: (listener) => feed.subscribe(listener),
    };
    Object.defineProperty(this, 'destructions', { value: watched });
  }

  override dataKeys(
    organisationId: string,
    subjectIds: readonly string[],
  ): Promise<DataKeyRecord[]> {
    this.dataKeyReads += 1;
    return super.dataKeys(organisationId, subjectIds);
  }
}

describe('Keyring', () => {
  const organisationId = randomUUID();

  it('makes a new organisation key once for writes in flight together, and all use it', async () => {
    const store = new InMemoryKeyStore();
    let attempts = 0;
    const add = store.addOrganisationKey.bind(store);
    store.addOrganisationKey = (...args) => {
      attempts += 1;
      return add(...args);
    };
    const keyring = new Keyring(store, master());
    const organisation = randomUUID();
    const subjects = [randomUUID(), randomUUID(), randomUUID()];
    await Promise.all(subjects.map((s) => keyring.keysForWriting(organisation, [s])));
    expect(attempts).toBe(1);
    const versions = await store.dataKeys(organisation, subjects);
    expect(versions.map((r) => r.organisationKeyVersion)).toEqual([1, 1, 1]);
    expect(await store.organisationKeys(organisation)).toHaveLength(1);
  });

  it('makes first keys for subjects it does not hold, unstored, and keeps them once stored', async () => {
    const store = new CountingStore();
    const key = master();
    const keyring = new Keyring(store, key);
    const [known, erased, fresh] = [randomUUID(), randomUUID(), randomUUID()];
    const held = await keyring.keysForWriting(organisationId, [known]);
    await keyring.destroy(organisationId, erased);
    const made = await keyring.freshKeys(organisationId, [known, erased, fresh, fresh]);
    // Only the subject it knows nothing of; nothing is stored by the keyring.
    expect([...made.keys.keys()]).toEqual([fresh]);
    expect(made.records).toEqual([
      expect.objectContaining({ subjectId: fresh, version: 1, organisationKeyVersion: 1 }),
    ]);
    expect(await store.dataKeys(organisationId, [fresh])).toEqual([]);
    expect(made.keys.get(fresh)!.keyId).toBe(dataKeyId(fresh, 1));
    expect(held.get(known)!.keyId).toBe(dataKeyId(known, 1));
    // Stored (as the log does, with the append), the wrapped record opens to the same key.
    const record = made.records[0];
    await store.dataKeysForWriting(organisationId, [record]);
    const reader = new Keyring(store, key);
    const opened = await reader.keysForReading(organisationId, [dataKeyId(fresh, 1)]);
    expect(opened.get(dataKeyId(fresh, 1))).toEqual(made.keys.get(fresh)!.key);
    // Once told it is stored, the keyring answers from memory.
    made.stored();
    const reads = store.dataKeyReads;
    const again = await keyring.keysForWriting(organisationId, [fresh]);
    expect(again.get(fresh)).toEqual(made.keys.get(fresh));
    expect(store.dataKeyReads).toBe(reads);
    expect((await keyring.freshKeys(organisationId, [fresh])).records).toEqual([]);
  });

  it('makes a data key per subject on first write, and finds the same one after', async () => {
    const store = new InMemoryKeyStore();
    const key = master();
    const keyring = new Keyring(store, key);
    const [ada, bob] = [randomUUID(), randomUUID()];
    const first = await keyring.keysForWriting(organisationId, [ada, bob, ada]);
    expect([...first.keys()].sort()).toEqual([ada, bob].sort());
    expect(first.get(ada)!.keyId).toBe(`${ada}:1`);
    expect(first.get(ada)!.key).toHaveLength(32);
    expect(first.get(ada)!.key.equals(first.get(bob)!.key)).toBe(false);

    // Another process over the same store: it unwraps what the first stored.
    const other = new Keyring(store, key);
    const again = await other.keysForWriting(organisationId, [ada]);
    expect(again.get(ada)!.key.equals(first.get(ada)!.key)).toBe(true);
    const read = await other.keysForReading(organisationId, [`${ada}:1`, `${bob}:1`]);
    expect((read.get(`${bob}:1`) as Buffer).equals(first.get(bob)!.key)).toBe(true);
  });

  it('stores keys only wrapped: the store never holds a key as it is', async () => {
    const store = new InMemoryKeyStore();
    const keyring = new Keyring(store, master());
    const subject = randomUUID();
    const { key } = (await keyring.keysForWriting(organisationId, [subject])).get(subject)!;
    const [record] = await store.dataKeys(organisationId, [subject]);
    expect(Buffer.from(record.wrappedKey!).includes(key)).toBe(false);
    const [organisationKey] = await store.organisationKeys(organisationId);
    expect(organisationKey.version).toBe(1);
    expect(record.organisationKeyVersion).toBe(1);
  });

  it('refuses key ids it does not know, or that are not key ids', async () => {
    const keyring = new Keyring(new InMemoryKeyStore(), master());
    await keyring.keysForWriting(organisationId, [organisationId]);
    await expect(keyring.keysForReading(organisationId, [`${randomUUID()}:1`])).rejects.toThrow(
      KeyUnavailableError,
    );
    await expect(keyring.keysForReading(organisationId, [`${organisationId}:2`])).rejects.toThrow(
      KeyUnavailableError,
    );
    await expect(keyring.keysForReading(organisationId, ['../etc'])).rejects.toThrow(
      KeyUnavailableError,
    );
  });

  it('destroys a key for good: reads say destroyed, writes are refused, in every keyring', async () => {
    const store = new InMemoryKeyStore();
    const key = master();
    const here = new Keyring(store, key);
    const there = new Keyring(store, key);
    const subject = randomUUID();
    await here.keysForWriting(organisationId, [subject]);
    // Cached over there before the erasure.
    await there.keysForReading(organisationId, [dataKeyId(subject, 1)]);

    await here.destroy(organisationId, subject);

    for (const keyring of [here, there, new Keyring(store, key)]) {
      const read = await keyring.keysForReading(organisationId, [dataKeyId(subject, 1)]);
      expect(read.get(dataKeyId(subject, 1))).toBe('destroyed');
      await expect(keyring.keysForWriting(organisationId, [subject])).rejects.toThrow(
        SubjectErasedError,
      );
    }
    const [record] = await store.dataKeys(organisationId, [subject]);
    expect(record.wrappedKey).toBeNull();
  });

  it('erases a subject that never had a key: it never gets one', async () => {
    const store = new InMemoryKeyStore();
    const keyring = new Keyring(store, master());
    const subject = randomUUID();
    await keyring.destroy(organisationId, subject);
    await expect(keyring.keysForWriting(organisationId, [subject])).rejects.toThrow(
      SubjectErasedError,
    );
  });

  it('writes new and known subjects in one step, reading nothing first, and keeps the known keys', async () => {
    const store = new CountingStore();
    const key = master();
    const [known, erased, fresh] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await new Keyring(store, key).keysForWriting(organisationId, [known]);
    await new Keyring(store, key).destroy(organisationId, erased);
    const reads = store.dataKeyReads;

    const other = new Keyring(store, key);
    const keys = await other.keysForWriting(organisationId, [known, fresh]);
    expect(store.dataKeyReads).toBe(reads);
    expect(keys.get(known)!.key.equals(first.get(known)!.key)).toBe(true);
    expect(keys.get(fresh)!.keyId).toBe(dataKeyId(fresh, 1));
    expect(await store.dataKeys(organisationId, [known, fresh])).toHaveLength(2);
    await expect(new Keyring(store, key).keysForWriting(organisationId, [erased])).rejects.toThrow(
      SubjectErasedError,
    );
    expect(await store.dataKeys(organisationId, [erased])).toEqual([
      { subjectId: erased, version: 1, organisationKeyVersion: null, wrappedKey: null },
    ]);
  });

  it('serves cached keys only while it would hear of their destruction', async () => {
    const store = new CountingStore();
    const keyring = new Keyring(store, master());
    const subject = randomUUID();
    await keyring.keysForWriting(organisationId, [subject]);
    const reads = store.dataKeyReads;
    await keyring.keysForReading(organisationId, [dataKeyId(subject, 1)]);
    await keyring.keysForWriting(organisationId, [subject]);
    expect(store.dataKeyReads).toBe(reads);

    store.heard = false;
    await keyring.keysForReading(organisationId, [dataKeyId(subject, 1)]);
    await keyring.keysForReading(organisationId, [dataKeyId(subject, 1)]);
    expect(store.dataKeyReads).toBe(reads + 2);
  });

  it('expires cached keys', async () => {
    let now = 0;
    const store = new CountingStore();
    const keyring = new Keyring(store, master(), { cacheTtlMs: 1_000, now: () => now });
    const subject = randomUUID();
    await keyring.keysForWriting(organisationId, [subject]);
    const reads = store.dataKeyReads;
    now = 1_000;
    await keyring.keysForReading(organisationId, [dataKeyId(subject, 1)]);
    expect(store.dataKeyReads).toBe(reads + 1);
  });

  it('refuses a wrapped key moved to another subject or organisation', async () => {
    const store = new InMemoryKeyStore();
    const key = master();
    const keyring = new Keyring(store, key);
    const [ada, bob] = [randomUUID(), randomUUID()];
    await keyring.keysForWriting(organisationId, [ada, bob]);
    const [adaRecord] = await store.dataKeys(organisationId, [ada]);
    // A forged store: bob's row now holds ada's wrapped key.
    const forged: KeyStore = Object.assign(Object.create(store) as KeyStore, {
      dataKeys: async (org: string, subjects: readonly string[]) =>
        (await store.dataKeys(org, subjects)).map((r) =>
          r.subjectId === bob ? { ...r, wrappedKey: adaRecord.wrappedKey } : r,
        ),
    });
    await expect(
      new Keyring(forged, key).keysForReading(organisationId, [dataKeyId(bob, 1)]),
    ).rejects.toThrow(/do not open with the organisation key/);

    const elsewhere = randomUUID();
    const [organisationKey] = await store.organisationKeys(organisationId);
    await store.addOrganisationKey(elsewhere, organisationKey);
    await expect(new Keyring(store, key).keysForWriting(elsewhere, [randomUUID()])).rejects.toThrow(
      /does not open with the master key/,
    );
  });

  describe('with a bulk opener (the pages of keys of a cold read)', () => {
    const thread = new ThreadedDecryption();
    afterAll(() => thread.close());

    /** The thread, counting the items it is handed; `fail` makes it refuse the whole batch. */
    const opener = (fail = false) => {
      const batches: number[] = [];
      return {
        batches,
        open: (items: readonly SealedItem[]) => {
          batches.push(items.length);
          return fail ? Promise.reject(new Error('thread gone')) : thread.open(items);
        },
      };
    };

    async function writtenKeys(count: number) {
      const store = new InMemoryKeyStore();
      const key = master();
      const subjects = Array.from({ length: count }, () => randomUUID());
      const written = await new Keyring(store, key).keysForWriting(organisationId, subjects);
      const keyIds = subjects.map((s) => dataKeyId(s, 1));
      const expected = new Map(subjects.map((s) => [dataKeyId(s, 1), written.get(s)!.key]));
      return { store, key, subjects, keyIds, expected };
    }

    it('unwraps a lookup of 64 keys or more there, to the same keys, and smaller ones in place', async () => {
      const { store, key, keyIds, expected } = await writtenKeys(100);
      const bulk = opener();
      const keyring = new Keyring(store, key, { bulkOpener: bulk });
      expect(await keyring.keysForReading(organisationId, keyIds.slice(0, 63))).toEqual(
        new Map(keyIds.slice(0, 63).map((id) => [id, expected.get(id)])),
      );
      expect(bulk.batches).toEqual([]);
      // The 37 not yet in memory: still in place.
      await keyring.keysForReading(organisationId, keyIds);
      expect(bulk.batches).toEqual([]);
      const cold = new Keyring(store, key, { bulkOpener: bulk });
      expect(await cold.keysForReading(organisationId, keyIds)).toEqual(expected);
      expect(bulk.batches).toEqual([100]);
    });

    it('unwraps in place when the opener fails, and answers the same', async () => {
      const { store, key, keyIds, expected } = await writtenKeys(80);
      const bulk = opener(true);
      const keyring = new Keyring(store, key, { bulkOpener: bulk });
      expect(await keyring.keysForReading(organisationId, keyIds)).toEqual(expected);
      expect(bulk.batches).toEqual([80]);
    });

    it('refuses a wrapped key moved to another subject, naming it, as in place', async () => {
      const { store, key, subjects, keyIds } = await writtenKeys(70);
      const [first] = await store.dataKeys(organisationId, [subjects[0]]);
      const forged: KeyStore = Object.assign(Object.create(store) as KeyStore, {
        dataKeys: async (org: string, ids: readonly string[]) =>
          (await store.dataKeys(org, ids)).map((r) =>
            r.subjectId === subjects[42] ? { ...r, wrappedKey: first.wrappedKey } : r,
          ),
      });
      const bulk = opener();
      const failure = await new Keyring(forged, key, { bulkOpener: bulk })
        .keysForReading(organisationId, keyIds)
        .catch((error: unknown) => error);
      expect(bulk.batches).toEqual([70]);
      expect(failure).toBeInstanceOf(KeyUnavailableError);
      expect((failure as KeyUnavailableError).keyId).toBe(keyIds[42]);
      expect((failure as Error).message).toMatch(/do not open with the organisation key/);
    });
  });

  describe('the master key check', () => {
    it('registers the first master key of an empty store, then refuses any other', async () => {
      const store = new InMemoryKeyStore();
      const first = master();
      await new Keyring(store, first).assertMasterKey();
      await new Keyring(store, first).assertMasterKey();

      const wrong = master();
      const keyring = new Keyring(store, wrong);
      const error = await keyring.assertMasterKey().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MasterKeyMismatchError);
      expect((error as Error).message).toContain(`id ${wrong.keyId}) is not the one`);
      expect((error as Error).message).toContain(`sealed with (id ${first.keyId})`);
      // Nothing is read or made with it.
      await expect(keyring.keysForWriting(organisationId, [randomUUID()])).rejects.toThrow(
        MasterKeyMismatchError,
      );
    });

    it('refuses a retired master key and one whose rotation has not finished', async () => {
      const store = new InMemoryKeyStore();
      const old = master();
      const next = master();
      await new Keyring(store, old).assertMasterKey();
      const [record] = await store.masterKeys();
      const check = await next.wrap(
        Buffer.alloc(32, 0x42),
        Buffer.from(`beecastle/master-key-check/v1\u0000${next.keyId}`),
      );
      store.setMasterKeys([
        record,
        { masterKeyId: next.keyId, checkValue: check, completedAt: null, retiredAt: null },
      ]);
      await expect(new Keyring(store, next).assertMasterKey()).rejects.toThrow(
        /rotation to the master key .* has not finished/,
      );
      store.setMasterKeys([
        { ...record, retiredAt: new Date('2025-01-01T00:00:00Z') },
        { masterKeyId: next.keyId, checkValue: check, completedAt: new Date(), retiredAt: null },
      ]);
      await expect(new Keyring(store, old).assertMasterKey()).rejects.toThrow(
        `was retired by keys:rotate-master at 2025-01-01T00:00:00.000Z: start with the current one (id ${next.keyId})`,
      );
      await new Keyring(store, next).assertMasterKey();
    });

    it('refuses a check value that does not open', async () => {
      const store = new InMemoryKeyStore();
      const key = master();
      await new Keyring(store, key).assertMasterKey();
      const [record] = await store.masterKeys();
      store.setMasterKeys([{ ...record, checkValue: randomBytes(60) }]);
      await expect(new Keyring(store, key).assertMasterKey()).rejects.toThrow(
        /does not open its own check value/,
      );
    });
  });
});

describe('data key ids', () => {
  it('round-trip, and refuse anything else', () => {
    const subject = randomUUID();
    expect(parseDataKeyId(dataKeyId(subject, 3))).toEqual({ subjectId: subject, version: 3 });
    for (const bad of ['', 'x', 'x:0', 'x:-1', 'a/b:1', `${subject}:1:2`]) {
      expect(parseDataKeyId(bad)).toBeUndefined();
    }
  });
});
