import { Client, type Pool } from 'pg';
import { ChannelListener, inTransaction, withOrganisation } from '@beecastle/database';
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

/** Sent when a data key is destroyed, with `<organisationId>/<subjectId>`. */
export const KEYS_CHANNEL = 'beecastle_keys';

// Serialises first registrations of a master key: two processes with different keys starting on
// an empty store must not both succeed.
const REGISTRATION_LOCK = 0x62636b73; // 'bcks'

interface MasterKeyRow {
  master_key_id: string;
  check_value: Buffer;
  completed_at: Date | null;
  retired_at: Date | null;
}

interface DataKeyRow {
  subject_id: string;
  version: number;
  organisation_key_version: number | null;
  wrapped_key: Buffer | null;
}

export interface PostgresKeyStoreOptions {
  /**
   * A connection string for the LISTEN session that hears of keys destroyed by other processes.
   * Without one, the store offers no destruction feed, and data keys are not cached.
   */
  readonly listenConnectionString?: string;
  /**
   * How a new data key's row is committed. `synchronous` (the default) flushes it to disk before
   * the key is used, with a commit of its own. `flushed-by-event-log` commits it with
   * `synchronous_commit = off`, sparing that flush, and is correct only when the event log is in
   * this same PostgreSQL (cluster: one WAL): the key must be durable no later than the first event
   * encrypted under it is acknowledged, and it is, because
   * - the key's commit record is in the WAL before the key is handed out, so every append using it
   *   begins after it, and an append that writes commits synchronously after it: PostgreSQL
   *   flushes the WAL in order, so that commit's flush takes the key's commit with it (with
   *   synchronous replication likewise, the standby confirms up to the later position);
   * - an append that writes nothing (an exact retry) acknowledges events that were already there,
   *   and those were encrypted under a key that existed before them: a subject with any event
   *   under its key already had a key, so it is never given a fresh one;
   * - another process that finds the key (row visible before its flush) uses it only in its own
   *   appends, which flush it as above; erasure commits synchronously.
   * With the event log elsewhere (EventStoreDB) nothing of this holds: keep `synchronous`.
   */
  readonly newKeyCommits?: 'synchronous' | 'flushed-by-event-log';
}

/** The key store in PostgreSQL (migration KeyStore), on the application role's pool. */
export class PostgresKeyStore implements KeyStore {
  readonly destructions?: DestructionFeed;
  private readonly listener?: DestructionNotifications;
  private readonly synchronousKeyCommits: boolean;

  constructor(
    private readonly pool: Pool,
    options: PostgresKeyStoreOptions = {},
  ) {
    this.synchronousKeyCommits = options.newKeyCommits !== 'flushed-by-event-log';
    if (options.listenConnectionString !== undefined) {
      const connectionString = options.listenConnectionString;
      this.listener = new DestructionNotifications(
        () => new Client({ connectionString, application_name: 'beecastle-keys-listen' }),
      );
      this.destructions = this.listener;
    }
  }

  async masterKeys(): Promise<MasterKeyRecord[]> {
    const { rows } = await this.pool.query<MasterKeyRow>(
      `SELECT master_key_id, check_value, completed_at, retired_at FROM master_keys
        ORDER BY created_at, master_key_id`,
    );
    return rows.map((row) => ({
      masterKeyId: row.master_key_id,
      checkValue: row.check_value,
      completedAt: row.completed_at,
      retiredAt: row.retired_at,
    }));
  }

  registerFirstMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [REGISTRATION_LOCK]);
      const { rowCount } = await client.query(
        `INSERT INTO master_keys (master_key_id, check_value, completed_at)
         SELECT $1, $2, now() WHERE NOT EXISTS (SELECT 1 FROM master_keys)`,
        [masterKeyId, checkValue],
      );
      return rowCount === 1;
    });
  }

  organisationKeys(organisationId: string): Promise<OrganisationKeyRecord[]> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      const { rows } = await client.query<{
        version: number;
        master_key_id: string;
        wrapped_key: Buffer;
      }>(
        `SELECT version, master_key_id, wrapped_key FROM organisation_keys
          WHERE org_id = $1 ORDER BY version`,
        [organisationId],
      );
      return rows.map((row) => ({
        version: row.version,
        masterKeyId: row.master_key_id,
        wrappedKey: row.wrapped_key,
      }));
    });
  }

  addOrganisationKey(organisationId: string, key: OrganisationKeyRecord): Promise<boolean> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      // Only under a master key that is in service: a process still running with a rotated-away
      // key must not create keys the new master key cannot open.
      const { rows } = await client.query<{ added: boolean; retired: boolean }>(
        `WITH master AS (
           SELECT retired_at IS NOT NULL AS retired FROM master_keys WHERE master_key_id = $3
           FOR SHARE),
         added AS (
           INSERT INTO organisation_keys (org_id, version, master_key_id, wrapped_key)
           SELECT $1, $2, $3, $4 FROM master WHERE NOT master.retired
           ON CONFLICT DO NOTHING RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM added) AS added,
                coalesce((SELECT retired FROM master), true) AS retired`,
        [organisationId, key.version, key.masterKeyId, key.wrappedKey],
      );
      if (rows[0].retired) throw new MasterKeyRetiredError(key.masterKeyId);
      // A new version: every process takes it for new data keys at once, not when its cache ends.
      if (rows[0].added && key.version > 1) {
        await client.query(`SELECT pg_notify($1, $2)`, [KEYS_CHANNEL, `${organisationId}/*`]);
      }
      return rows[0].added;
    });
  }

  async dataKeys(organisationId: string, subjectIds: readonly string[]): Promise<DataKeyRecord[]> {
    if (subjectIds.length === 0) return [];
    // One round trip (migration DataKeysForReading) rather than withOrganisation's three: a cold
    // read looks keys up once per page, in series with the page reads.
    const { rows } = await this.pool.query<DataKeyRow>(
      `SELECT subject_id, version, organisation_key_version, wrapped_key
         FROM data_keys_for_reading($1, $2::text[])`,
      [organisationId, subjectIds],
    );
    return rows.map(toDataKeyRecord);
  }

  async dataKeysForWriting(
    organisationId: string,
    given: readonly DataKeyRecord[],
  ): Promise<DataKeysForWriting> {
    if (given.length === 0) return { added: new Set(), existing: [] };
    // In one order everywhere: two calls inserting the same new subjects in opposite orders would
    // each wait for a row the other inserted (a deadlock, which PostgreSQL ends by failing one).
    const fresh = [...given].sort((a, b) => compareText(a.subjectId, b.subjectId));
    const wrappingVersion = fresh[0].organisationKeyVersion;
    if (fresh.some((k) => k.version !== 1 || k.organisationKeyVersion !== wrappingVersion)) {
      throw new Error('Fresh data keys are version 1, all wrapped by one organisation key version');
    }
    let rows: (DataKeyRow & { added: boolean })[];
    try {
      // One round trip (migration DataKeysForWriting), alone in its implicit transaction.
      ({ rows } = await this.pool.query<DataKeyRow & { added: boolean }>(
        `SELECT subject_id, version, organisation_key_version, wrapped_key, added
           FROM data_keys_for_writing($1, $2::text[], $3, $4::bytea[], $5)`,
        [
          organisationId,
          fresh.map((k) => k.subjectId),
          wrappingVersion,
          fresh.map((k) => (k.wrappedKey === null ? null : Buffer.from(k.wrappedKey))),
          this.synchronousKeyCommits,
        ],
      ));
    } catch (error) {
      // A subject erased while the call ran (its tombstone met the INSERT): nothing was added,
      // and the caller reads every subject again, which refuses the erased one.
      if ((error as { code?: unknown }).code === '55000') return { added: new Set(), existing: [] };
      throw error;
    }
    const added = new Set<string>();
    const existing: DataKeyRecord[] = [];
    for (const row of rows) {
      if (row.added) added.add(row.subject_id);
      else existing.push(toDataKeyRecord(row));
    }
    return { added, existing };
  }

  async destroyDataKeys(organisationId: string, subjectId: string): Promise<void> {
    await withOrganisation(this.pool, organisationId, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE data_keys SET wrapped_key = NULL, organisation_key_version = NULL,
                destroyed_at = now()
          WHERE org_id = $1 AND subject_id = $2 AND destroyed_at IS NULL`,
        [organisationId, subjectId],
      );
      if (rowCount === 0) {
        // None to destroy (or already destroyed): a tombstone, so that none is ever made.
        await client.query(
          `INSERT INTO data_keys (org_id, subject_id, version, destroyed_at)
           SELECT $1, $2, 1, now()
            WHERE NOT EXISTS (SELECT 1 FROM data_keys WHERE org_id = $1 AND subject_id = $2)`,
          [organisationId, subjectId],
        );
      }
      // Delivered at commit, to every process listening (this one included).
      await client.query(`SELECT pg_notify($1, $2)`, [
        KEYS_CHANNEL,
        `${organisationId}/${subjectId}`,
      ]);
    });
  }

  async addMasterKey(masterKeyId: string, checkValue: Uint8Array): Promise<void> {
    await this.pool.query(
      `INSERT INTO master_keys (master_key_id, check_value) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [masterKeyId, checkValue],
    );
  }

  async retireMasterKey(masterKeyId: string): Promise<void> {
    // Waits for organisation keys being made under it (they hold the row FOR SHARE).
    await this.pool.query(
      `UPDATE master_keys SET retired_at = coalesce(retired_at, now()) WHERE master_key_id = $1`,
      [masterKeyId],
    );
  }

  async completeMasterKey(masterKeyId: string): Promise<void> {
    await this.pool.query(
      `UPDATE master_keys SET completed_at = coalesce(completed_at, now()) WHERE master_key_id = $1`,
      [masterKeyId],
    );
  }

  removeOrganisationKeyWraps(organisationId: string, masterKeyId: string): Promise<number> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      // Only versions that have another wrap: a key is never left without one.
      const { rowCount } = await client.query(
        `DELETE FROM organisation_keys k
          WHERE k.org_id = $1 AND k.master_key_id = $2
            AND EXISTS (SELECT 1 FROM organisation_keys o
                         WHERE o.org_id = k.org_id AND o.version = k.version
                           AND o.master_key_id <> k.master_key_id)`,
        [organisationId, masterKeyId],
      );
      return rowCount ?? 0;
    });
  }

  dataKeysWrappedBefore(
    organisationId: string,
    version: number,
    limit: number,
  ): Promise<DataKeyRecord[]> {
    return withOrganisation(this.pool, organisationId, async (client) => {
      const { rows } = await client.query<DataKeyRow>(
        `SELECT subject_id, version, organisation_key_version, wrapped_key FROM data_keys
          WHERE org_id = $1 AND organisation_key_version < $2
          ORDER BY organisation_key_version, subject_id, version LIMIT $3`,
        [organisationId, version, limit],
      );
      return rows.map(toDataKeyRecord);
    });
  }

  async rewrapDataKeys(organisationId: string, keys: readonly DataKeyRewrap[]): Promise<number> {
    if (keys.length === 0) return 0;
    return withOrganisation(this.pool, organisationId, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE data_keys d
            SET organisation_key_version = k.organisation_key_version, wrapped_key = k.wrapped_key
           FROM unnest($2::text[], $3::int[], $4::int[], $5::int[], $6::bytea[])
                AS k(subject_id, version, from_version, organisation_key_version, wrapped_key)
          WHERE d.org_id = $1 AND d.subject_id = k.subject_id AND d.version = k.version
            AND d.organisation_key_version = k.from_version AND d.destroyed_at IS NULL`,
        [
          organisationId,
          keys.map((k) => k.subjectId),
          keys.map((k) => k.version),
          keys.map((k) => k.fromOrganisationKeyVersion),
          keys.map((k) => k.organisationKeyVersion),
          keys.map((k) => Buffer.from(k.wrappedKey)),
        ],
      );
      return rowCount ?? 0;
    });
  }

  async close(): Promise<void> {
    await this.listener?.close();
  }
}

/** Code-point order (subject ids are ASCII), as the database's "C" order would have it. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toDataKeyRecord(row: DataKeyRow): DataKeyRecord {
  return {
    subjectId: row.subject_id,
    version: row.version,
    organisationKeyVersion: row.organisation_key_version,
    wrappedKey: row.wrapped_key,
  };
}

/**
 * The destruction feed: a LISTEN session on KEYS_CHANNEL (payload `<organisationId>/<subjectId>`).
 * While it is down (not yet connected, or reconnecting) `watching()` is false; when it starts or
 * is lost, subscribers are told to drop everything, since destructions meanwhile went unheard.
 */
class DestructionNotifications implements DestructionFeed {
  private readonly channel: ChannelListener;

  constructor(createClient: () => Client) {
    this.channel = new ChannelListener(KEYS_CHANNEL, createClient);
  }

  watching(): boolean {
    return this.channel.listening();
  }

  subscribe(listener: DestructionListener): () => void {
    return this.channel.add((payload) => {
      if (payload === undefined) listener(undefined, undefined);
      else if (payload !== '') {
        const [organisationId, subjectId] = payload.split('/');
        listener(organisationId, subjectId);
      }
    });
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}
