import { randomBytes, randomUUID } from 'node:crypto';
import { MasterKeyMismatchError } from './errors';
import { Keyring, dataKeyId } from './keyring';
import { LocalMasterKeyProvider } from './master-key';
import { InMemoryKeyStore } from './memory-key-store';

const master = () => new LocalMasterKeyProvider(randomBytes(32), 'a test key');

describe('organisation key rotation', () => {
  const organisationId = randomUUID();

  it('re-wraps every live data key under a new version; every key still opens, and is the same', async () => {
    const store = new InMemoryKeyStore();
    const key = master();
    const keyring = new Keyring(store, key);
    const subjects = Array.from({ length: 7 }, () => randomUUID());
    const before = await keyring.keysForWriting(organisationId, subjects);
    await keyring.destroy(organisationId, subjects[0]);

    const rotation = await keyring.rotateOrganisationKey(organisationId, { batchSize: 3 });
    expect(rotation).toEqual({
      organisationId,
      version: 2,
      previousVersion: 1,
      dataKeysRewrapped: 6,
      resumed: false,
    });
    const records = await store.dataKeys(organisationId, subjects);
    expect(
      records.filter((r) => r.wrappedKey !== null).map((r) => r.organisationKeyVersion),
    ).toEqual(Array(6).fill(2));
    // Versions are kept: both wraps of the organisation key are there.
    expect((await store.organisationKeys(organisationId)).map((k) => k.version)).toEqual([1, 2]);

    const fresh = new Keyring(store, key);
    const read = await fresh.keysForReading(
      organisationId,
      subjects.map((s) => dataKeyId(s, 1)),
    );
    expect(read.get(dataKeyId(subjects[0], 1))).toBe('destroyed');
    for (const subject of subjects.slice(1)) {
      expect((read.get(dataKeyId(subject, 1)) as Buffer).equals(before.get(subject)!.key)).toBe(
        true,
      );
    }
    // New data keys go under the new version.
    const added = randomUUID();
    await keyring.keysForWriting(organisationId, [added]);
    expect((await store.dataKeys(organisationId, [added]))[0].organisationKeyVersion).toBe(2);
  });

  it('finishes a rotation an earlier run left half done, rather than start another', async () => {
    const store = new InMemoryKeyStore();
    const key = master();
    const keyring = new Keyring(store, key);
    const subjects = Array.from({ length: 4 }, () => randomUUID());
    await keyring.keysForWriting(organisationId, subjects);
    // The earlier run: made version 2 and re-wrapped nothing before it stopped.
    const failing = Object.assign(Object.create(store) as InMemoryKeyStore, {
      rewrapDataKeys: () => Promise.reject(new Error('connection lost')),
    });
    await expect(new Keyring(failing, key).rotateOrganisationKey(organisationId)).rejects.toThrow(
      'connection lost',
    );
    expect((await store.organisationKeys(organisationId)).map((k) => k.version)).toEqual([1, 2]);

    const resumed = await new Keyring(store, key).rotateOrganisationKey(organisationId);
    expect(resumed).toMatchObject({
      version: 2,
      previousVersion: 1,
      dataKeysRewrapped: 4,
      resumed: true,
    });
    const again = await new Keyring(store, key).rotateOrganisationKey(organisationId);
    expect(again).toMatchObject({
      version: 3,
      previousVersion: 2,
      dataKeysRewrapped: 4,
      resumed: false,
    });
  });
});

describe('master key rotation', () => {
  const organisations = [randomUUID(), randomUUID()];

  it('re-wraps organisation keys only: afterwards the new key opens everything and the old one nothing', async () => {
    const store = new InMemoryKeyStore();
    const old = master();
    const next = master();
    const keyring = new Keyring(store, old);
    const subjects = organisations.map(() => randomUUID());
    const written = await Promise.all(
      organisations.map((org, i) => keyring.keysForWriting(org, [subjects[i]])),
    );
    await keyring.rotateOrganisationKey(organisations[0]); // two versions there

    const rotation = await keyring.rotateMasterKey(next, () => Promise.resolve(organisations));
    expect(rotation).toEqual({
      masterKeyId: next.keyId,
      previousMasterKeyId: old.keyId,
      organisationKeysWrapped: 3,
      oldWrapsRemoved: 3,
    });
    for (const org of organisations) {
      expect((await store.organisationKeys(org)).every((k) => k.masterKeyId === next.keyId)).toBe(
        true,
      );
    }

    const after = new Keyring(store, next);
    await after.assertMasterKey();
    for (const [i, org] of organisations.entries()) {
      const read = await after.keysForReading(org, [dataKeyId(subjects[i], 1)]);
      expect(
        (read.get(dataKeyId(subjects[i], 1)) as Buffer).equals(written[i].get(subjects[i])!.key),
      ).toBe(true);
    }
    await expect(new Keyring(store, old).assertMasterKey()).rejects.toThrow(/was retired/);
  });

  it('resumes after a failure, with the same two keys', async () => {
    const store = new InMemoryKeyStore();
    const old = master();
    const next = master();
    const keyring = new Keyring(store, old);
    for (const org of organisations) await keyring.keysForWriting(org, [randomUUID()]);
    // Stops after the retirement, before the second sweep: neither key may start a process.
    const failing = Object.assign(Object.create(store) as InMemoryKeyStore, {
      completeMasterKey: () => Promise.reject(new Error('connection lost')),
    });
    await expect(
      new Keyring(failing, old).rotateMasterKey(next, () => Promise.resolve(organisations)),
    ).rejects.toThrow('connection lost');
    await expect(new Keyring(store, old).assertMasterKey()).rejects.toThrow(MasterKeyMismatchError);
    await expect(new Keyring(store, next).assertMasterKey()).rejects.toThrow(/has not finished/);

    const resumed = await new Keyring(store, old).rotateMasterKey(next, () =>
      Promise.resolve(organisations),
    );
    expect(resumed).toMatchObject({ organisationKeysWrapped: 0, oldWrapsRemoved: 2 });
    await new Keyring(store, next).assertMasterKey();
  });

  it('refuses to rotate from a key that is not the store’s', async () => {
    const store = new InMemoryKeyStore();
    await new Keyring(store, master()).assertMasterKey();
    await expect(
      new Keyring(store, master()).rotateMasterKey(master(), () => Promise.resolve([])),
    ).rejects.toThrow(MasterKeyMismatchError);
  });
});
