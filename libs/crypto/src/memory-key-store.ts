import type {
  DataKeyRecord,
  DataKeyRewrap,
  DataKeysForWriting,
  DestructionFeed,
  DestructionListener,
  KeyStore,
  MasterKeyRecord,
  OrganisationKeyRecord,
} from './key-store';
import { MasterKeyRetiredError } from './errors';

/**
 * The key store in memory, for unit tests and the in-memory event store: the same rules as the
 * PostgreSQL one (first master key only on an empty store, no key under a retired master key,
 * destroyed keys stay destroyed and their subject gets no other), in one process.
 */
export class InMemoryKeyStore implements KeyStore {
  private readonly masters: MasterKeyRecord[] = [];
  private readonly organisations = new Map<string, OrganisationKeyRecord[]>();
  private readonly data = new Map<string, DataKeyRecord[]>();
  private readonly listeners = new Set<DestructionListener>();

  readonly destructions: DestructionFeed = {
    watching: () => true,
    subscribe: (listener) => {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    },
  };

  masterKeys(): Promise<MasterKeyRecord[]> {
    return Promise.resolve(this.masters.map((m) => ({ ...m })));
  }

  registerFirstMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<boolean> {
    if (this.masters.length > 0) return Promise.resolve(false);
    this.masters.push({ masterKeyId, checkValue, completedAt: new Date(), retiredAt: null });
    return Promise.resolve(true);
  }

  /** For tests of rotation and refusal: replaces the master key records as given. */
  setMasterKeys(records: readonly MasterKeyRecord[]): void {
    this.masters.splice(0, this.masters.length, ...records);
  }

  organisationKeys(organisationId: string): Promise<OrganisationKeyRecord[]> {
    return Promise.resolve([...(this.organisations.get(organisationId) ?? [])]);
  }

  addOrganisationKey(organisationId: string, key: OrganisationKeyRecord): Promise<boolean> {
    const master = this.masters.find((m) => m.masterKeyId === key.masterKeyId);
    if (!master || master.retiredAt !== null) {
      return Promise.reject(new MasterKeyRetiredError(key.masterKeyId));
    }
    const list = this.organisations.get(organisationId) ?? [];
    if (list.some((k) => k.version === key.version && k.masterKeyId === key.masterKeyId)) {
      return Promise.resolve(false);
    }
    this.organisations.set(organisationId, [...list, { ...key }]);
    return Promise.resolve(true);
  }

  dataKeys(organisationId: string, subjectIds: readonly string[]): Promise<DataKeyRecord[]> {
    return Promise.resolve(
      subjectIds.flatMap((s) =>
        (this.data.get(`${organisationId}/${s}`) ?? []).map((k) => ({ ...k })),
      ),
    );
  }

  dataKeysForWriting(
    organisationId: string,
    fresh: readonly DataKeyRecord[],
  ): Promise<DataKeysForWriting> {
    const added = new Set<string>();
    const existing: DataKeyRecord[] = [];
    const seen = new Set<string>();
    for (const key of fresh) {
      if (seen.has(key.subjectId)) continue;
      seen.add(key.subjectId);
      const list = this.data.get(`${organisationId}/${key.subjectId}`) ?? [];
      if (list.length > 0) existing.push(...list.map((k) => ({ ...k })));
      else {
        this.data.set(`${organisationId}/${key.subjectId}`, [{ ...key }]);
        added.add(key.subjectId);
      }
    }
    return Promise.resolve({ added, existing });
  }

  destroyDataKeys(organisationId: string, subjectId: string): Promise<void> {
    const list = this.data.get(`${organisationId}/${subjectId}`) ?? [];
    const destroyed = (version: number): DataKeyRecord => ({
      subjectId,
      version,
      organisationKeyVersion: null,
      wrappedKey: null,
    });
    this.data.set(
      `${organisationId}/${subjectId}`,
      list.length === 0 ? [destroyed(1)] : list.map((k) => destroyed(k.version)),
    );
    for (const listener of this.listeners) listener(organisationId, subjectId);
    return Promise.resolve();
  }

  addMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<void> {
    if (!this.masters.some((m) => m.masterKeyId === masterKeyId)) {
      this.masters.push({ masterKeyId, checkValue, completedAt: null, retiredAt: null });
    }
    return Promise.resolve();
  }

  retireMasterKey(masterKeyId: string): Promise<void> {
    this.updateMaster(masterKeyId, (m) => ({ ...m, retiredAt: m.retiredAt ?? new Date() }));
    return Promise.resolve();
  }

  completeMasterKey(masterKeyId: string): Promise<void> {
    this.updateMaster(masterKeyId, (m) => ({ ...m, completedAt: m.completedAt ?? new Date() }));
    return Promise.resolve();
  }

  private updateMaster(
    masterKeyId: string,
    change: (record: MasterKeyRecord) => MasterKeyRecord,
  ): void {
    const index = this.masters.findIndex((m) => m.masterKeyId === masterKeyId);
    if (index >= 0) this.masters[index] = change(this.masters[index]);
  }

  removeOrganisationKeyWraps(organisationId: string, masterKeyId: string): Promise<number> {
    const list = this.organisations.get(organisationId) ?? [];
    const kept = list.filter(
      (k) =>
        k.masterKeyId !== masterKeyId ||
        !list.some((o) => o.version === k.version && o.masterKeyId !== masterKeyId),
    );
    this.organisations.set(organisationId, kept);
    return Promise.resolve(list.length - kept.length);
  }

  dataKeysWrappedBefore(
    organisationId: string,
    version: number,
    limit: number,
  ): Promise<DataKeyRecord[]> {
    const found: DataKeyRecord[] = [];
    for (const [key, list] of this.data) {
      if (!key.startsWith(`${organisationId}/`)) continue;
      for (const k of list) {
        if (k.organisationKeyVersion !== null && k.organisationKeyVersion < version)
          found.push({ ...k });
      }
    }
    return Promise.resolve(found.slice(0, limit));
  }

  rewrapDataKeys(organisationId: string, keys: readonly DataKeyRewrap[]): Promise<number> {
    let count = 0;
    for (const rewrap of keys) {
      const id = `${organisationId}/${rewrap.subjectId}`;
      const list = this.data.get(id) ?? [];
      this.data.set(
        id,
        list.map((k) => {
          if (
            k.version !== rewrap.version ||
            k.organisationKeyVersion !== rewrap.fromOrganisationKeyVersion
          )
            return k;
          count += 1;
          return {
            ...k,
            organisationKeyVersion: rewrap.organisationKeyVersion,
            wrappedKey: rewrap.wrappedKey,
          };
        }),
      );
    }
    return Promise.resolve(count);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
