/**
 * Where wrapped keys are kept (PostgreSQL in the product, memory in unit tests). It stores and
 * finds rows; it never sees a key in the clear. Rows of an organisation are read and written in
 * that organisation's scope only.
 */

export interface MasterKeyRecord {
  readonly masterKeyId: string;
  /** A known value sealed by the master key: opening it proves a key is this one. */
  readonly checkValue: Uint8Array;
  /** Set once every organisation key has a wrap by this master key. */
  readonly completedAt: Date | null;
  /** Set when a rotation replaced it: it must no longer be used. */
  readonly retiredAt: Date | null;
}

export interface OrganisationKeyRecord {
  readonly version: number;
  readonly masterKeyId: string;
  readonly wrappedKey: Uint8Array;
}

export interface DataKeyRecord {
  readonly subjectId: string;
  readonly version: number;
  /** Which organisation key version wraps it; null once destroyed. */
  readonly organisationKeyVersion: number | null;
  /** Null once destroyed (erasure): nothing can open this subject's payloads any more. */
  readonly wrappedKey: Uint8Array | null;
}

export interface KeyStore {
  masterKeys(): Promise<MasterKeyRecord[]>;
  /**
   * Records the first master key of an empty store, complete at once (there is nothing for it to
   * wrap yet). False if the store already names a master key: then the caller is not it.
   */
  registerFirstMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<boolean>;
  organisationKeys(organisationId: string): Promise<OrganisationKeyRecord[]>;
  /**
   * Adds one version of an organisation's key, wrapped by a master key that is not retired.
   * False if that version already has a wrap by that master key (another process made it).
   */
  addOrganisationKey(organisationId: string, key: OrganisationKeyRecord): Promise<boolean>;
  /** Every version of these subjects' data keys, destroyed ones included. */
  dataKeys(organisationId: string, subjectIds: readonly string[]): Promise<DataKeyRecord[]>;
  /**
   * The keys an append needs, in one step: for each subject that has keys, every version of them
   * (destroyed ones included); each of the others is given `fresh` (its version 1). A subject
   * that another process gave a key meanwhile is in neither: read it with `dataKeys`.
   */
  dataKeysForWriting(
    organisationId: string,
    fresh: readonly DataKeyRecord[],
  ): Promise<DataKeysForWriting>;
  /**
   * Destroys every version of a subject's data key, or leaves a destroyed tombstone if it has
   * none, so that it is never given one. Every process caching the key is told to drop it.
   */
  destroyDataKeys(organisationId: string, subjectId: string): Promise<void>;
  // ---- rotation --------------------------------------------------------------------------

  /** Records a master key a rotation moves to: not complete until every key has a wrap by it. */
  addMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<void>;
  /** From now on no organisation key may be made under it (its wraps are still read). */
  retireMasterKey(masterKeyId: string): Promise<void>;
  /** Every organisation key has a wrap by it: processes may start with it. */
  completeMasterKey(masterKeyId: string): Promise<void>;
  /** Drops an organisation's wraps by a retired master key, once each has another. */
  removeOrganisationKeyWraps(organisationId: string, masterKeyId: string): Promise<number>;
  /** Live data keys wrapped by an organisation key version older than `version`, a batch at a time. */
  dataKeysWrappedBefore(
    organisationId: string,
    version: number,
    limit: number,
  ): Promise<DataKeyRecord[]>;
  /**
   * Replaces wraps, each only if it is still by the version it was read with (a key destroyed or
   * re-wrapped meanwhile is left alone). Answers how many it replaced.
   */
  rewrapDataKeys(organisationId: string, keys: readonly DataKeyRewrap[]): Promise<number>;

  /**
   * News of destructions made by any process, for caches. Absent: the store cannot tell, and
   * nothing may cache its data keys.
   */
  readonly destructions?: DestructionFeed;
  close(): Promise<void>;
}

export interface DataKeysForWriting {
  /** The subjects given their fresh key. */
  readonly added: ReadonlySet<string>;
  /** Every version of the keys of the subjects that had some. */
  readonly existing: readonly DataKeyRecord[];
}

export interface DataKeyRewrap {
  readonly subjectId: string;
  readonly version: number;
  readonly fromOrganisationKeyVersion: number;
  readonly organisationKeyVersion: number;
  readonly wrappedKey: Uint8Array;
}

/**
 * Called with the organisation and subject of a destroyed key; with the subject `*` when the
 * organisation's key was rotated; with neither: "drop them all".
 */
export type DestructionListener = (organisationId?: string, subjectId?: string) => void;

export interface DestructionFeed {
  /** False while news may be missed (not yet listening, or reconnecting): caches must not serve. */
  watching(): boolean;
  subscribe(listener: DestructionListener): () => void;
}
