import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AuthenticationFailedError,
  KEY_BYTES,
  associatedData,
  open,
  randomKey,
  seal,
} from './aes-gcm';
import { KeyUnavailableError, MasterKeyMismatchError, SubjectErasedError } from './errors';
import { KeyCache } from './key-cache';
import type { DataKeyRecord, KeyStore } from './key-store';
import type { MasterKeyProvider } from './master-key';
import type { SealedItem } from './threaded-decryption';

export interface OrganisationKeyRotation {
  readonly organisationId: string;
  /** The version every live data key is now wrapped by. */
  readonly version: number;
  readonly previousVersion: number | null;
  readonly dataKeysRewrapped: number;
  /** It finished a rotation an earlier run had begun. */
  readonly resumed: boolean;
}

export interface MasterKeyRotation {
  readonly masterKeyId: string;
  readonly previousMasterKeyId: string;
  readonly organisationKeysWrapped: number;
  readonly oldWrapsRemoved: number;
}

/** A data key to encrypt with, and the id that names it in the event's metadata. */
export interface DataKey {
  readonly keyId: string;
  readonly key: Buffer;
}

/** What a key id opens: the key, or nothing ever again (it was destroyed by an erasure). */
export type ReadableKey = Buffer | 'destroyed';

/**
 * The keys payloads are encrypted with, as the event store's encryption layer asks for them. A
 * subject is a contact id, or the organisation's own id for what belongs to no one contact.
 */
export interface PayloadKeyring {
  /** The current key of each subject, made on first use. Throws SubjectErasedError for an erased one. */
  keysForWriting(
    organisationId: string,
    subjectIds: readonly string[],
  ): Promise<Map<string, DataKey>>;
  /** The keys these ids name; `destroyed` for erased ones. Throws KeyUnavailableError for unknown ids. */
  keysForReading(
    organisationId: string,
    keyIds: readonly string[],
  ): Promise<Map<string, ReadableKey>>;
  /**
   * keysForReading begun early, for a reader that knows which keys it needs next; called when
   * their turn comes, it answers as keysForReading would then (see Keyring).
   */
  keysForReadingAhead?(
    organisationId: string,
    keyIds: readonly string[],
  ): () => Promise<Map<string, ReadableKey>>;
  /**
   * A first key for each subject it does not hold in memory, made and wrapped here and stored by
   * nothing yet: for an event log that stores them in the transaction of the append that first
   * encrypts under them (see FreshDataKeys). Subjects it holds (live or erased) are left out: ask
   * keysForWriting for those.
   */
  freshKeys?(organisationId: string, subjectIds: readonly string[]): Promise<FreshDataKeys>;
}

/**
 * First keys (version 1) made for subjects expected to be new, not yet stored. The caller stores
 * `records` with the events encrypted under `keys`, in one transaction that fails if any of the
 * subjects already has a key (or an erasure's tombstone); then calls `stored()`, which keeps them
 * in memory as keysForWriting would have. If that transaction fails, the keys are dropped and the
 * caller asks keysForWriting, which answers with the stored key (or refuses an erased subject).
 */
export interface FreshDataKeys {
  readonly keys: ReadonlyMap<string, DataKey>;
  readonly records: readonly DataKeyRecord[];
  stored(): void;
}

export interface KeyringOptions {
  /** Subjects whose keys are kept unwrapped in memory (default 10,000; about 100 bytes each). */
  readonly cacheSize?: number;
  /** How long an unwrapped key may stay in memory unused or not (default 5 minutes). */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
  /**
   * Opens many sealed items at once elsewhere (a ThreadedDecryption): data keys fetched by the
   * hundred (a cold read of a log with a key per event, as an import leaves it) are unwrapped
   * there rather than on the reader's thread. Smaller lookups, or a failure of its own, unwrap here.
   */
  readonly bulkOpener?: BulkOpener;
}

/** Each item's plaintext, or undefined where it does not open. ThreadedDecryption is one. */
export interface BulkOpener {
  open(items: readonly SealedItem[]): Promise<(Buffer | undefined)[]>;
}

// Fewer data keys than this are unwrapped in place: the hand-over costs more than it saves.
const MIN_BULK_UNWRAP = 64;

/** A stored data key that does not open with the organisation key (version) named for it. */
function wrappedKeyRefused(organisationId: string, record: DataKeyRecord): KeyUnavailableError {
  return new KeyUnavailableError(
    organisationId,
    dataKeyId(record.subjectId, record.version),
    'its wrapped bytes do not open with the organisation key (altered, or moved from another subject)',
  );
}

/** `<subjectId>:<version>`, as stored in `metadata.keyId`. */
export function dataKeyId(subjectId: string, version: number): string {
  return `${subjectId}:${version}`;
}

export function parseDataKeyId(keyId: string): { subjectId: string; version: number } | undefined {
  const match = /^([A-Za-z0-9_-]{1,64}):([1-9][0-9]{0,8})$/.exec(keyId);
  return match ? { subjectId: match[1], version: Number(match[2]) } : undefined;
}

// What wraps bind: a wrapped key moved to another organisation, version or subject does not open.
const organisationKeyContext = (organisationId: string, version: number) =>
  associatedData('beecastle/organisation-key/v1', organisationId, version);
const dataKeyContext = (
  organisationId: string,
  subjectId: string,
  version: number,
  organisationKeyVersion: number,
) =>
  associatedData(
    'beecastle/data-key/v1',
    organisationId,
    subjectId,
    version,
    organisationKeyVersion,
  );
const masterCheckContext = (masterKeyId: string) =>
  associatedData('beecastle/master-key-check/v1', masterKeyId);
const CHECK_PLAINTEXT = Buffer.alloc(KEY_BYTES, 0x42);

/** A subject's live keys by version, or its erasure. */
type SubjectKeys =
  | { readonly destroyed: false; readonly latest: DataKey; readonly byVersion: Map<number, Buffer> }
  | { readonly destroyed: true };

/**
 * Envelope keys: a data key per subject, wrapped by its organisation's key, wrapped by the master
 * key. Unwrapped keys are cached (bounded, expiring); data keys only while the store's destruction
 * feed is heard, so that a key destroyed by any process is dropped here at once, and a fetch that
 * raced a destruction is not cached.
 */
export class Keyring implements PayloadKeyring {
  private readonly subjects: KeyCache<SubjectKeys>;
  private readonly organisationKeys: KeyCache<Buffer>;
  private readonly currentVersions: KeyCache<number>;
  private readonly loadingOrganisations = new Map<string, Promise<void>>();
  private readonly makingOrganisationKeys = new Map<string, Promise<void>>();
  private masterChecked: Promise<void> | undefined;
  private readonly bulkOpener: BulkOpener | undefined;
  // Moves on every destruction heard: a fetch that saw it move caches nothing.
  private generation = 0;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: KeyStore,
    private readonly master: MasterKeyProvider,
    options: KeyringOptions = {},
  ) {
    this.bulkOpener = options.bulkOpener;
    const ttl = options.cacheTtlMs ?? 5 * 60_000;
    this.subjects = new KeyCache(options.cacheSize ?? 10_000, ttl, options.now);
    this.organisationKeys = new KeyCache(1_000, ttl, options.now);
    this.currentVersions = new KeyCache(1_000, ttl, options.now);
    this.unsubscribe = store.destructions?.subscribe((organisationId, subjectId) => {
      if (organisationId !== undefined && subjectId === '*') {
        // A new organisation key version: new data keys are wrapped by it from now on.
        this.currentVersions.delete(organisationId);
        return;
      }
      this.generation += 1;
      if (organisationId === undefined || subjectId === undefined) {
        this.subjects.clear();
        this.currentVersions.clear();
      } else this.subjects.delete(`${organisationId}/${subjectId}`);
    });
  }

  get masterKeyId(): string {
    return this.master.keyId;
  }

  /**
   * Fails closed unless the master key is the store's current one: registered, rotation to it
   * complete, not retired, and it opens its own check value. An empty store takes it as its first.
   */
  assertMasterKey(): Promise<void> {
    this.masterChecked ??= this.checkMasterKey().catch((error: unknown) => {
      // A database that was briefly unreachable is tried again next time; a wrong key is not.
      if (!(error instanceof MasterKeyMismatchError)) this.masterChecked = undefined;
      throw error;
    });
    return this.masterChecked;
  }

  private async checkMasterKey(): Promise<void> {
    const { keyId, description } = this.master;
    let records = await this.store.masterKeys();
    let mine = records.find((r) => r.masterKeyId === keyId);
    if (!mine && records.length === 0) {
      const check = await this.master.wrap(CHECK_PLAINTEXT, masterCheckContext(keyId));
      if (await this.store.registerFirstMasterKey(keyId, check)) return;
      records = await this.store.masterKeys();
      mine = records.find((r) => r.masterKeyId === keyId);
    }
    const current = records
      .filter((r) => r.completedAt !== null && r.retiredAt === null)
      .map((r) => r.masterKeyId);
    const currentText = current.length > 0 ? current.join(', ') : 'none';
    if (!mine) {
      throw new MasterKeyMismatchError(
        `The master key (${description}, id ${keyId}) is not the one this database's keys are sealed with (id ${currentText}). ` +
          'Start with the MASTER_KEY that sealed them (or restore the development key file it was made with): with another key nothing can be read.',
      );
    }
    if (mine.retiredAt !== null) {
      throw new MasterKeyMismatchError(
        `The master key (${description}, id ${keyId}) was retired by keys:rotate-master at ${mine.retiredAt.toISOString()}: start with the current one (id ${currentText}).`,
      );
    }
    if (mine.completedAt === null) {
      throw new MasterKeyMismatchError(
        `The rotation to the master key (${description}, id ${keyId}) has not finished: run keys:rotate-master again to complete it, and until then start with the previous key (id ${currentText}).`,
      );
    }
    await this.openCheckValue(this.master, mine.checkValue);
  }

  async keysForWriting(
    organisationId: string,
    subjectIds: readonly string[],
  ): Promise<Map<string, DataKey>> {
    const found = new Map<string, DataKey>();
    const missing: string[] = [];
    for (const subjectId of new Set(subjectIds)) {
      const cached = this.cached(organisationId, subjectId);
      if (cached?.destroyed) throw new SubjectErasedError(organisationId, subjectId);
      if (cached) found.set(subjectId, cached.latest);
      else missing.push(subjectId);
    }
    if (missing.length === 0) return found;

    // One round trip whether the subjects are new or not (a create's contact always is): the keys
    // of those that have some, and a fresh key for each of the others, sealed here beforehand.
    await this.assertMasterKey();
    const { version: organisationKeyVersion, key: organisationKey } =
      await this.currentOrganisationKey(organisationId);
    const fresh = new Map(missing.map((subjectId) => [subjectId, randomKey()]));
    const generation = this.generation;
    const { added, existing } = await this.store.dataKeysForWriting(
      organisationId,
      missing.map((subjectId): DataKeyRecord => ({
        subjectId,
        version: 1,
        organisationKeyVersion,
        wrappedKey: seal(
          organisationKey,
          fresh.get(subjectId)!,
          dataKeyContext(organisationId, subjectId, 1, organisationKeyVersion),
        ),
      })),
    );
    const stored = await this.unwrapSubjects(organisationId, existing, generation);
    const raced: string[] = [];
    for (const subjectId of missing) {
      const keys = stored.get(subjectId);
      if (keys?.destroyed) throw new SubjectErasedError(organisationId, subjectId);
      if (keys) {
        found.set(subjectId, keys.latest);
        continue;
      }
      if (!added.has(subjectId)) {
        raced.push(subjectId);
        continue;
      }
      const key = fresh.get(subjectId)!;
      const latest = { keyId: dataKeyId(subjectId, 1), key };
      found.set(subjectId, latest);
      this.remember(organisationId, subjectId, generation, {
        destroyed: false,
        latest,
        byVersion: new Map([[1, key]]),
      });
    }
    if (raced.length > 0) {
      // Another process made (or erased) these keys meanwhile: use what it stored.
      const loaded = await this.loadSubjects(organisationId, raced);
      for (const subjectId of raced) {
        const keys = loaded.get(subjectId);
        if (!keys || keys.destroyed) throw new SubjectErasedError(organisationId, subjectId);
        found.set(subjectId, keys.latest);
      }
    }
    return found;
  }

  async freshKeys(organisationId: string, subjectIds: readonly string[]): Promise<FreshDataKeys> {
    const subjects = [...new Set(subjectIds)].filter((s) => !this.cached(organisationId, s));
    if (subjects.length === 0) return { keys: new Map(), records: [], stored: () => undefined };
    await this.assertMasterKey();
    const { version: organisationKeyVersion, key: organisationKey } =
      await this.currentOrganisationKey(organisationId);
    const generation = this.generation;
    const keys = new Map<string, DataKey>();
    const records: DataKeyRecord[] = [];
    for (const subjectId of subjects) {
      const key = randomKey();
      keys.set(subjectId, { keyId: dataKeyId(subjectId, 1), key });
      records.push({
        subjectId,
        version: 1,
        organisationKeyVersion,
        wrappedKey: seal(
          organisationKey,
          key,
          dataKeyContext(organisationId, subjectId, 1, organisationKeyVersion),
        ),
      });
    }
    return {
      keys,
      records,
      stored: () => {
        for (const [subjectId, latest] of keys) {
          this.remember(organisationId, subjectId, generation, {
            destroyed: false,
            latest,
            byVersion: new Map([[1, latest.key]]),
          });
        }
      },
    };
  }

  async keysForReading(
    organisationId: string,
    keyIds: readonly string[],
  ): Promise<Map<string, ReadableKey>> {
    const result = new Map<string, ReadableKey>();
    const wanted = new Map<string, { subjectId: string; version: number }>();
    for (const keyId of new Set(keyIds)) {
      const parsed = parseDataKeyId(keyId);
      if (!parsed) throw new KeyUnavailableError(organisationId, keyId, 'not a data key id');
      wanted.set(keyId, parsed);
    }
    const missing = new Set<string>();
    for (const [keyId, { subjectId, version }] of wanted) {
      const cached = this.cached(organisationId, subjectId);
      const key = cached && (cached.destroyed ? 'destroyed' : cached.byVersion.get(version));
      if (key) result.set(keyId, key);
      else missing.add(subjectId);
    }
    if (missing.size === 0) return result;

    const loaded = await this.loadSubjects(organisationId, [...missing]);
    for (const [keyId, { subjectId, version }] of wanted) {
      if (result.has(keyId)) continue;
      const keys = loaded.get(subjectId);
      if (keys?.destroyed) {
        result.set(keyId, 'destroyed');
        continue;
      }
      const key = keys?.byVersion.get(version);
      if (!key)
        throw new KeyUnavailableError(organisationId, keyId, 'the key store has no such key');
      result.set(keyId, key);
    }
    return result;
  }

  /**
   * Begins the lookup of keys a reader will need next, and answers how to get them when their turn
   * comes: a reader overlaps the key store's answer with its work on what it has. Those keys, if no
   * destruction was heard since the lookup began and the feed is still heard (as for keeping keys
   * in memory); otherwise, or if the early lookup failed, keysForReading then and there, so the
   * answer (`destroyed`, KeyUnavailableError) is exactly the one it would have given. Without the
   * feed nothing is looked up early.
   */
  keysForReadingAhead(
    organisationId: string,
    keyIds: readonly string[],
  ): () => Promise<Map<string, ReadableKey>> {
    const generation = this.generation;
    if (!this.store.destructions?.watching()) {
      return () => this.keysForReading(organisationId, keyIds);
    }
    const early = this.keysForReading(organisationId, keyIds);
    early.catch(() => undefined);
    return async () => {
      const found = await early.catch(() => undefined);
      if (found && generation === this.generation && this.store.destructions?.watching()) {
        return found;
      }
      return this.keysForReading(organisationId, keyIds);
    };
  }

  /**
   * Destroys a subject's data key for good (erasure): its payloads can never be read again, here
   * or by any process, and it is never given another key.
   */
  async destroy(organisationId: string, subjectId: string): Promise<void> {
    this.generation += 1;
    this.subjects.delete(`${organisationId}/${subjectId}`);
    await this.store.destroyDataKeys(organisationId, subjectId);
    this.generation += 1;
    this.subjects.set(`${organisationId}/${subjectId}`, { destroyed: true });
  }

  /**
   * Organisation key rotation: a new version of the organisation's key, and every live data key
   * re-wrapped by it, a batch at a time. The log is not touched (data keys stay the same), and old
   * versions are kept. Resumable: if data keys are still wrapped by an older version than the
   * newest, this finishes that rotation rather than start another.
   */
  async rotateOrganisationKey(
    organisationId: string,
    options: { readonly batchSize?: number } = {},
  ): Promise<OrganisationKeyRotation> {
    await this.assertMasterKey();
    await this.loadOrganisationKeys(organisationId);
    const newest = this.currentVersions.get(organisationId);
    const unfinished =
      newest !== undefined &&
      (await this.store.dataKeysWrappedBefore(organisationId, newest, 1)).length > 0;
    let version: number;
    if (newest !== undefined && unfinished) {
      version = newest;
    } else {
      version = (newest ?? 0) + 1;
      const key = randomBytes(KEY_BYTES);
      const added = await this.store.addOrganisationKey(organisationId, {
        version,
        masterKeyId: this.master.keyId,
        wrappedKey: await this.master.wrap(key, organisationKeyContext(organisationId, version)),
      });
      if (!added) throw new Error(`Another rotation of organisation ${organisationId} is running`);
      this.organisationKeys.set(`${organisationId}/${version}`, key);
    }
    this.currentVersions.set(organisationId, version);
    const target = await this.organisationKey(organisationId, version, 'organisation');

    let rewrapped = 0;
    for (;;) {
      const batch = await this.store.dataKeysWrappedBefore(
        organisationId,
        version,
        options.batchSize ?? 500,
      );
      if (batch.length === 0) break;
      const rewraps = [];
      for (const record of batch) {
        const key = await this.unwrapDataKey(organisationId, record);
        rewraps.push({
          subjectId: record.subjectId,
          version: record.version,
          fromOrganisationKeyVersion: record.organisationKeyVersion!,
          organisationKeyVersion: version,
          wrappedKey: seal(
            target,
            key,
            dataKeyContext(organisationId, record.subjectId, record.version, version),
          ),
        });
      }
      rewrapped += await this.store.rewrapDataKeys(organisationId, rewraps);
    }
    return {
      organisationId,
      version,
      previousVersion: unfinished ? (version > 1 ? version - 1 : null) : (newest ?? null),
      dataKeysRewrapped: rewrapped,
      resumed: unfinished,
    };
  }

  /**
   * Master key rotation, run with the current master key in this keyring: `next` is registered,
   * every organisation key gets a wrap by it, the current key is retired (no process can make
   * organisation keys under it any more), the organisations are swept once more, `next` is marked
   * complete and the old wraps are removed. The log and the data keys are not touched. Resumable:
   * run again with the same two keys after any failure. `organisations` lists every organisation
   * that may have keys (asked twice: before and after the retirement).
   */
  async rotateMasterKey(
    next: MasterKeyProvider,
    organisations: () => Promise<readonly string[]>,
  ): Promise<MasterKeyRotation> {
    const { keyId } = this.master;
    if (next.keyId === keyId) throw new Error('The new master key is the current one');
    const records = await this.store.masterKeys();
    const current = records.find((r) => r.masterKeyId === keyId);
    const successor = records.find((r) => r.masterKeyId === next.keyId);
    if (!current) {
      throw new MasterKeyMismatchError(
        `The master key to rotate from (${this.master.description}, id ${keyId}) is not registered in this database's key store.`,
      );
    }
    const others = records.filter(
      (r) => r.retiredAt === null && r.masterKeyId !== keyId && r.masterKeyId !== next.keyId,
    );
    if (others.length > 0 || (current.retiredAt !== null && successor === undefined)) {
      throw new MasterKeyMismatchError(
        `The master key (id ${keyId}) is not the one in service, nor one a rotation to ${next.keyId} started from.`,
      );
    }
    await this.openCheckValue(this.master, current.checkValue);
    // This keyring may read with the rotating key even once it is retired.
    this.masterChecked = Promise.resolve();
    if (successor) await this.openCheckValue(next, successor.checkValue);
    else {
      await this.store.addMasterKey(
        next.keyId,
        await next.wrap(CHECK_PLAINTEXT, masterCheckContext(next.keyId)),
      );
    }

    let wrapped = 0;
    const sweep = async () => {
      for (const organisationId of await organisations()) {
        wrapped += await this.copyWraps(organisationId, next);
      }
    };
    await sweep();
    await this.store.retireMasterKey(keyId);
    await sweep();
    await this.store.completeMasterKey(next.keyId);
    let removed = 0;
    for (const organisationId of await organisations()) {
      removed += await this.store.removeOrganisationKeyWraps(organisationId, keyId);
    }
    return {
      masterKeyId: next.keyId,
      previousMasterKeyId: keyId,
      organisationKeysWrapped: wrapped,
      oldWrapsRemoved: removed,
    };
  }

  /** Gives each of an organisation's keys a wrap by `next` that it lacks; answers how many. */
  private async copyWraps(organisationId: string, next: MasterKeyProvider): Promise<number> {
    const records = await this.store.organisationKeys(organisationId);
    const covered = new Set(
      records.filter((r) => r.masterKeyId === next.keyId).map((r) => r.version),
    );
    let count = 0;
    for (const record of records) {
      if (record.masterKeyId !== this.master.keyId || covered.has(record.version)) continue;
      const context = organisationKeyContext(organisationId, record.version);
      const key = await this.master.unwrap(record.wrappedKey, context);
      const added = await this.store.addOrganisationKey(organisationId, {
        version: record.version,
        masterKeyId: next.keyId,
        wrappedKey: await next.wrap(key, context),
      });
      if (added) count += 1;
      covered.add(record.version);
    }
    return count;
  }

  private async openCheckValue(master: MasterKeyProvider, checkValue: Uint8Array): Promise<void> {
    let opened: Uint8Array;
    try {
      opened = await master.unwrap(checkValue, masterCheckContext(master.keyId));
    } catch {
      opened = Buffer.alloc(0);
    }
    if (opened.length !== KEY_BYTES || !timingSafeEqual(opened, CHECK_PLAINTEXT)) {
      throw new MasterKeyMismatchError(
        `The master key (${master.description}, id ${master.keyId}) does not open its own check value in the key store: the store was altered, or the key provider is faulty. Nothing will be decrypted.`,
      );
    }
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.subjects.clear();
    this.organisationKeys.clear();
    await this.store.close();
  }

  private cached(organisationId: string, subjectId: string): SubjectKeys | undefined {
    const entry = this.subjects.get(`${organisationId}/${subjectId}`);
    // An erasure is for good, so knowing of one is always safe; a live key only while we would
    // hear of its destruction.
    if (!entry || entry.destroyed) return entry;
    return this.store.destructions?.watching() ? entry : undefined;
  }

  private remember(
    organisationId: string,
    subjectId: string,
    generation: number,
    keys: SubjectKeys,
  ): void {
    if (keys.destroyed) {
      this.subjects.set(`${organisationId}/${subjectId}`, keys);
      return;
    }
    if (generation !== this.generation || !this.store.destructions?.watching()) return;
    this.subjects.set(`${organisationId}/${subjectId}`, keys);
  }

  /** Reads and unwraps these subjects' keys (one round trip), caching what it may. */
  private async loadSubjects(
    organisationId: string,
    subjectIds: readonly string[],
  ): Promise<Map<string, SubjectKeys>> {
    await this.assertMasterKey();
    const generation = this.generation;
    const records = await this.store.dataKeys(organisationId, subjectIds);
    return this.unwrapSubjects(organisationId, records, generation);
  }

  /** Stored records as each subject's keys (unwrapped), caching what it may. */
  private async unwrapSubjects(
    organisationId: string,
    records: readonly DataKeyRecord[],
    generation: number,
  ): Promise<Map<string, SubjectKeys>> {
    const bySubject = new Map<string, DataKeyRecord[]>();
    for (const record of records) {
      const list = bySubject.get(record.subjectId) ?? [];
      list.push(record);
      bySubject.set(record.subjectId, list);
    }
    // Each organisation key version once, before the loop: a cold read unwraps a page's data keys
    // (hundreds) without a wait between them, which cost more than the unwraps themselves.
    const organisationKeys = new Map<number, Buffer>();
    for (const { subjectId, version, organisationKeyVersion, wrappedKey } of records) {
      if (wrappedKey === null || organisationKeyVersion === null) continue;
      if (organisationKeys.has(organisationKeyVersion)) continue;
      organisationKeys.set(
        organisationKeyVersion,
        await this.organisationKey(
          organisationId,
          organisationKeyVersion,
          dataKeyId(subjectId, version),
        ),
      );
    }
    const opened = await this.openedInBulk(organisationId, records, organisationKeys);
    const result = new Map<string, SubjectKeys>();
    for (const [subjectId, list] of bySubject) {
      let keys: SubjectKeys;
      if (list.some((r) => r.wrappedKey === null)) {
        keys = { destroyed: true };
      } else {
        const byVersion = new Map<number, Buffer>();
        let latest: DataKey | undefined;
        for (const record of list.sort((a, b) => a.version - b.version)) {
          const key =
            opened?.get(record) ??
            this.openDataKey(
              organisationId,
              record,
              organisationKeys.get(record.organisationKeyVersion!)!,
            );
          byVersion.set(record.version, key);
          latest = { keyId: dataKeyId(subjectId, record.version), key };
        }
        keys = { destroyed: false, latest: latest!, byVersion };
      }
      result.set(subjectId, keys);
      this.remember(organisationId, subjectId, generation, keys);
    }
    return result;
  }

  /**
   * The live records' keys opened by the bulk opener, when there is one and enough of them; else
   * (or if the opener itself fails) undefined, and they are opened in place. A key that does not
   * open fails exactly as in place (KeyUnavailableError).
   */
  private async openedInBulk(
    organisationId: string,
    records: readonly DataKeyRecord[],
    organisationKeys: ReadonlyMap<number, Buffer>,
  ): Promise<Map<DataKeyRecord, Buffer> | undefined> {
    const live = records.filter((r) => r.wrappedKey !== null && r.organisationKeyVersion !== null);
    if (!this.bulkOpener || live.length < MIN_BULK_UNWRAP) return undefined;
    let keys: (Buffer | undefined)[];
    try {
      keys = await this.bulkOpener.open(
        live.map((record) => ({
          key: organisationKeys.get(record.organisationKeyVersion!)!,
          associatedData: dataKeyContext(
            organisationId,
            record.subjectId,
            record.version,
            record.organisationKeyVersion!,
          ),
          sealed: record.wrappedKey!,
        })),
      );
    } catch {
      return undefined;
    }
    const opened = new Map<DataKeyRecord, Buffer>();
    live.forEach((record, i) => {
      const key = keys[i];
      if (key === undefined) throw wrappedKeyRefused(organisationId, record);
      opened.set(record, key);
    });
    return opened;
  }

  private async unwrapDataKey(organisationId: string, record: DataKeyRecord): Promise<Buffer> {
    const organisationKey = await this.organisationKey(
      organisationId,
      record.organisationKeyVersion!,
      dataKeyId(record.subjectId, record.version),
    );
    return this.openDataKey(organisationId, record, organisationKey);
  }

  /** A stored data key unwrapped by the organisation key (version) that wraps it. */
  private openDataKey(
    organisationId: string,
    record: DataKeyRecord,
    organisationKey: Buffer,
  ): Buffer {
    try {
      return open(
        organisationKey,
        record.wrappedKey!,
        dataKeyContext(
          organisationId,
          record.subjectId,
          record.version,
          record.organisationKeyVersion!,
        ),
      );
    } catch (error) {
      if (!(error instanceof AuthenticationFailedError)) throw error;
      throw wrappedKeyRefused(organisationId, record);
    }
  }

  private async organisationKey(
    organisationId: string,
    version: number,
    forKeyId: string,
  ): Promise<Buffer> {
    const cacheKey = `${organisationId}/${version}`;
    let key = this.organisationKeys.get(cacheKey);
    if (!key) {
      await this.loadOrganisationKeys(organisationId);
      key = this.organisationKeys.get(cacheKey);
    }
    if (!key) {
      throw new KeyUnavailableError(
        organisationId,
        forKeyId,
        `organisation key version ${version} has no wrap by master key ${this.master.keyId} (an unfinished keys:rotate-master?)`,
      );
    }
    return key;
  }

  /** The version new data keys are wrapped by, made (version 1) on the organisation's first use. */
  private async currentOrganisationKey(
    organisationId: string,
  ): Promise<{ version: number; key: Buffer }> {
    let version = this.currentVersions.get(organisationId);
    if (version === undefined) {
      await this.loadOrganisationKeys(organisationId);
      version = this.currentVersions.get(organisationId);
    }
    if (version === undefined) {
      // Appends in flight together for a new organisation (an import's batches) make its key
      // once: each attempt costs a synchronous commit, and all but one lose the race and reload.
      let making = this.makingOrganisationKeys.get(organisationId);
      if (!making) {
        making = this.makeFirstOrganisationKey(organisationId).finally(() =>
          this.makingOrganisationKeys.delete(organisationId),
        );
        this.makingOrganisationKeys.set(organisationId, making);
      }
      await making;
      version = this.currentVersions.get(organisationId);
      if (version === undefined) {
        throw new KeyUnavailableError(organisationId, 'organisation', 'it could not be made');
      }
    }
    return { version, key: await this.organisationKey(organisationId, version, 'organisation') };
  }

  /** Version 1 of an organisation's key, or, should another process have made it, that one. */
  private async makeFirstOrganisationKey(organisationId: string): Promise<void> {
    const key = randomBytes(KEY_BYTES);
    const wrappedKey = await this.master.wrap(key, organisationKeyContext(organisationId, 1));
    const added = await this.store.addOrganisationKey(organisationId, {
      version: 1,
      masterKeyId: this.master.keyId,
      wrappedKey,
    });
    if (added) {
      this.organisationKeys.set(`${organisationId}/1`, key);
      this.currentVersions.set(organisationId, 1);
      return;
    }
    await this.loadOrganisationKeys(organisationId);
  }

  private loadOrganisationKeys(organisationId: string): Promise<void> {
    let loading = this.loadingOrganisations.get(organisationId);
    if (!loading) {
      loading = this.unwrapOrganisationKeys(organisationId).finally(() =>
        this.loadingOrganisations.delete(organisationId),
      );
      this.loadingOrganisations.set(organisationId, loading);
    }
    return loading;
  }

  private async unwrapOrganisationKeys(organisationId: string): Promise<void> {
    await this.assertMasterKey();
    const records = await this.store.organisationKeys(organisationId);
    let current: number | undefined;
    for (const record of records) {
      current = Math.max(current ?? 0, record.version);
      if (record.masterKeyId !== this.master.keyId) continue;
      let key: Uint8Array;
      try {
        key = await this.master.unwrap(
          record.wrappedKey,
          organisationKeyContext(organisationId, record.version),
        );
      } catch {
        throw new KeyUnavailableError(
          organisationId,
          `organisation:${record.version}`,
          'its wrap does not open with the master key (altered, or moved from another organisation)',
        );
      }
      this.organisationKeys.set(`${organisationId}/${record.version}`, Buffer.from(key));
    }
    if (current !== undefined) this.currentVersions.set(organisationId, current);
  }
}
