import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Pool, type ClientConfig } from 'pg';
import { withOrganisation } from '@beecastle/database';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { KeyUnavailableError, MasterKeyMismatchError, SubjectErasedError } from './errors';
import { Keyring, dataKeyId } from './keyring';
import { LocalMasterKeyProvider } from './master-key';
import { PostgresKeyStore, type PostgresKeyStoreOptions } from './postgres-key-store';
import { dataKeyRowsRead } from './testing/data-key-rows-read';

const master = () => new LocalMasterKeyProvider(randomBytes(32), 'a test key');

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('PostgresKeyStore', () => {
  let db: TestDatabase;
  const key = master();
  const keyrings: Keyring[] = [];
  const keyring = (options: { listen?: boolean; master?: LocalMasterKeyProvider } = {}) => {
    const made = new Keyring(
      new PostgresKeyStore(db.app, {
        listenConnectionString: options.listen === false ? undefined : db.appUrl,
      }),
      options.master ?? key,
    );
    keyrings.push(made);
    return made;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(keyrings.map((k) => k.close()));
    await db.drop();
  });

  it('registers exactly one of two master keys racing on an empty store', async () => {
    const other = master();
    const results = await Promise.allSettled([
      keyring().assertMasterKey(),
      keyring({ master: other }).assertMasterKey(),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(MasterKeyMismatchError);
    // The tests below use `key`: make sure it is the one that won.
    if (results[0].status === 'rejected') {
      await db.owner.query('TRUNCATE master_keys CASCADE');
      await keyring().assertMasterKey();
    }
  });

  it('round-trips data keys between processes, each organisation seeing only its own', async () => {
    const [orgA, orgB] = [randomUUID(), randomUUID()];
    const subject = randomUUID();
    const written = (await keyring().keysForWriting(orgA, [subject, orgA])).get(subject)!;
    const read = await keyring().keysForReading(orgA, [written.keyId]);
    expect((read.get(written.keyId) as Buffer).equals(written.key)).toBe(true);
    await expect(keyring().keysForReading(orgB, [written.keyId])).rejects.toThrow(
      KeyUnavailableError,
    );
    // Nothing of organisation A is visible in B's scope, nor without a scope.
    const seen = await withOrganisation(db.app, orgB, async (client) => {
      const keys = await client.query(
        'SELECT 1 FROM data_keys UNION ALL SELECT 1 FROM organisation_keys',
      );
      return keys.rowCount;
    });
    expect(seen).toBe(0);
    const { rowCount } = await db.app.query('SELECT 1 FROM data_keys');
    expect(rowCount).toBe(0);
  });

  it('keeps keys wrapped: the schema owner sees no key as it is', async () => {
    const organisationId = randomUUID();
    const subject = randomUUID();
    const { key: dataKey } = (await keyring().keysForWriting(organisationId, [subject])).get(
      subject,
    )!;
    // The owner is under forced row-level security too: it names the organisation to look.
    const rows = await withOrganisation(db.owner, organisationId, async (client) => {
      const { rows } = await client.query<{ wrapped_key: Buffer }>(
        `SELECT wrapped_key FROM data_keys UNION ALL SELECT wrapped_key FROM organisation_keys`,
      );
      return rows;
    });
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.wrapped_key.includes(dataKey)).toBe(false);
  });

  it('destroys for good: the row is a tombstone the application role cannot change or replace', async () => {
    const organisationId = randomUUID();
    const subject = randomUUID();
    const here = keyring();
    await here.keysForWriting(organisationId, [subject]);
    await here.destroy(organisationId, subject);
    await expect(keyring().keysForWriting(organisationId, [subject])).rejects.toThrow(
      SubjectErasedError,
    );
    const read = await keyring().keysForReading(organisationId, [dataKeyId(subject, 1)]);
    expect(read.get(dataKeyId(subject, 1))).toBe('destroyed');

    await withOrganisation(db.app, organisationId, async (client) => {
      const { rows } = await client.query(
        `SELECT wrapped_key, organisation_key_version, destroyed_at IS NOT NULL AS destroyed
           FROM data_keys WHERE subject_id = $1`,
        [subject],
      );
      expect(rows).toEqual([
        { wrapped_key: null, organisation_key_version: null, destroyed: true },
      ]);
    });
    const attempts = [
      `UPDATE data_keys SET wrapped_key = '\\x01', organisation_key_version = 1, destroyed_at = NULL WHERE subject_id = $1`,
      `INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
       VALUES (app_org_id(), $1, 2, 1, '\\x01')`,
      `DELETE FROM data_keys WHERE subject_id = $1`,
    ];
    for (const sql of attempts) {
      await expect(
        withOrganisation(db.app, organisationId, (client) => client.query(sql, [subject])),
      ).rejects.toThrow(/destroyed and stays so|gets no new key|permission denied/);
    }
  });

  it('refuses a new key for an erased subject by any version, whether it had a key or not', async () => {
    // The trigger checks only versions other than 1 (migration CheaperDataKeyInserts): version 1
    // meets the tombstone's primary key, and a later version needs a version 1 beside it.
    const organisationId = randomUUID();
    const [hadKey, never, orphan] = [randomUUID(), randomUUID(), randomUUID()];
    const here = keyring();
    await here.keysForWriting(organisationId, [hadKey]);
    await here.destroy(organisationId, hadKey);
    await here.destroy(organisationId, never);
    const insert = (subject: string, version: number) =>
      withOrganisation(db.app, organisationId, (client) =>
        client.query(
          `INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
           VALUES (app_org_id(), $1, $2, 1, '\\x01')`,
          [subject, version],
        ),
      );
    for (const subject of [hadKey, never]) {
      await expect(insert(subject, 1)).rejects.toMatchObject({ code: '23505' });
      await expect(insert(subject, 2)).rejects.toMatchObject({ code: '55000' });
    }
    await expect(insert(orphan, 2)).rejects.toThrow(/needs a version 1 first/);
    await expect(keyring().keysForWriting(organisationId, [never])).rejects.toThrow(
      SubjectErasedError,
    );
    const { rows } = await withOrganisation(db.owner, organisationId, (client) =>
      client.query<{ subject: string; version: number; live: boolean }>(
        `SELECT subject_id AS subject, version, destroyed_at IS NULL AS live FROM data_keys
          WHERE subject_id = ANY($1::text[])`,
        [[hadKey, never, orphan]],
      ),
    );
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        { subject: hadKey, version: 1, live: false },
        { subject: never, version: 1, live: false },
      ]),
    );
  });

  it('keeps subject ids to 1 to 64 of A-Z, a-z, 0-9, _ and -', async () => {
    const organisationId = randomUUID();
    const insert = (subject: string) =>
      withOrganisation(db.app, organisationId, (client) =>
        client.query(
          `INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
           VALUES (app_org_id(), $1, 1, 1, '\\x01')`,
          [subject],
        ),
      );
    for (const bad of ['', 'a b', 'a/b', 'é', 'a%', 'x'.repeat(65)]) {
      await expect(insert(bad)).rejects.toMatchObject({ code: '23514' });
    }
    for (const good of ['A-z_09', 'x'.repeat(64)]) await insert(good);
    const { rows } = await withOrganisation(db.owner, organisationId, (client) =>
      client.query(`SELECT 1 FROM data_keys WHERE subject_id = ANY($1::text[])`, [
        ['A-z_09', 'x'.repeat(64)],
      ]),
    );
    expect(rows).toHaveLength(2);
  });

  it('tells every listening process of a destruction at once, and caches nothing without listening', async () => {
    const organisationId = randomUUID();
    const subject = randomUUID();
    const keyId = dataKeyId(subject, 1);
    const writer = keyring();
    await writer.keysForWriting(organisationId, [subject]);
    const listening = keyring();
    const deaf = keyring({ listen: false });
    // Warm: once listening, the listening keyring caches; the other never does.
    await eventually(async () => {
      await listening.keysForReading(organisationId, [keyId]);
      return (listening['subjects' as keyof Keyring] as unknown as { size: number }).size > 0;
    }, 'the key to be cached');
    await deaf.keysForReading(organisationId, [keyId]);

    await writer.destroy(organisationId, subject);

    expect((await deaf.keysForReading(organisationId, [keyId])).get(keyId)).toBe('destroyed');
    await eventually(
      async () =>
        (await listening.keysForReading(organisationId, [keyId])).get(keyId) === 'destroyed',
      'the cached key to be dropped',
    );
  });

  it('makes every listening process wrap new data keys with a rotated organisation key at once', async () => {
    const organisationId = randomUUID();
    const writer = keyring();
    const wrappedBy = async (subject: string) =>
      withOrganisation(db.app, organisationId, async (client) => {
        await writer.keysForWriting(organisationId, [subject]);
        const { rows } = await client.query<{ v: number }>(
          'SELECT organisation_key_version AS v FROM data_keys WHERE subject_id = $1',
          [subject],
        );
        return rows[0].v;
      });
    expect(await wrappedBy(randomUUID())).toBe(1);
    const rotation = await keyring().rotateOrganisationKey(organisationId, { batchSize: 1 });
    expect(rotation).toMatchObject({ version: 2, dataKeysRewrapped: 1 });
    await eventually(async () => (await wrappedBy(randomUUID())) === 2, 'the new version');
  });

  it('refuses to make organisation keys under a retired master key', async () => {
    const organisationId = randomUUID();
    const retiring = keyring();
    await retiring.assertMasterKey();
    await db.owner.query(`UPDATE master_keys SET retired_at = now() WHERE master_key_id = $1`, [
      key.keyId,
    ]);
    try {
      await expect(retiring.keysForWriting(organisationId, [randomUUID()])).rejects.toThrow(
        /has been retired by keys:rotate-master/,
      );
      await expect(keyring().assertMasterKey()).rejects.toThrow(MasterKeyMismatchError);
    } finally {
      await db.owner.query(`UPDATE master_keys SET retired_at = NULL`);
    }
  });

  describe('keys for writing', () => {
    const keyRows = (organisationId: string, subjectIds: readonly string[]) =>
      withOrganisation(db.owner, organisationId, async (client) => {
        const { rows } = await client.query<{ subject: string; version: number; live: boolean }>(
          `SELECT subject_id AS subject, version, destroyed_at IS NULL AS live FROM data_keys
            WHERE subject_id = ANY($1::text[]) ORDER BY subject_id, version`,
          [subjectIds],
        );
        return rows;
      });

    /** A pool of the application role that records every statement it sends. */
    const countingPool = () => {
      const sent: { text: string; values: unknown[] }[] = [];
      class CountingClient extends Client {
        constructor(config?: string | ClientConfig) {
          super(config);
          const query = this.query.bind(this) as (...args: unknown[]) => unknown;
          (this as { query: unknown }).query = (...args: unknown[]) => {
            const [first, second] = args as [string | { text: string }, unknown];
            const text = typeof first === 'string' ? first : first.text;
            sent.push({ text, values: Array.isArray(second) ? second : [] });
            return query(...args);
          };
        }
      }
      const pool = new Pool({ connectionString: db.appUrl, Client: CountingClient, max: 2 });
      pools.push(pool);
      return { pool, sent };
    };
    const pools: Pool[] = [];
    afterAll(async () => {
      await Promise.all(pools.map((p) => p.end()));
    });

    it('costs one statement and no transaction of its own, for a new subject as for a known one', async () => {
      const organisationId = randomUUID();
      const { pool, sent } = countingPool();
      const made = () => {
        const k = new Keyring(
          new PostgresKeyStore(pool, { listenConnectionString: db.appUrl }),
          key,
        );
        keyrings.push(k);
        return k;
      };
      const writer = made();
      const reader = made();
      // Each learns the organisation's key once.
      await writer.keysForWriting(organisationId, [randomUUID()]);
      await reader.keysForWriting(organisationId, [randomUUID()]);

      const subject = randomUUID();
      sent.length = 0;
      const written = (await writer.keysForWriting(organisationId, [subject])).get(subject)!;
      expect(sent.map((s) => s.text)).toEqual([expect.stringMatching(/data_keys_for_writing/)]);

      sent.length = 0;
      const found = (await reader.keysForWriting(organisationId, [subject])).get(subject)!;
      expect(sent).toHaveLength(1);
      expect(found.keyId).toBe(written.keyId);
      expect(found.key.equals(written.key)).toBe(true);
      expect(await keyRows(organisationId, [subject])).toEqual([
        { subject, version: 1, live: true },
      ]);
    });

    it('makes the same new subjects’ keys in two processes at once, in opposite orders, without deadlock', async () => {
      const organisationId = randomUUID();
      const [one, two] = [keyring(), keyring()];
      for (let round = 0; round < 20; round += 1) {
        const subjects = Array.from({ length: 30 }, () => randomUUID());
        const [a, b] = await Promise.all([
          one.keysForWriting(organisationId, subjects),
          two.keysForWriting(organisationId, [...subjects].reverse()),
        ]);
        for (const subject of subjects) expect(a.get(subject)).toEqual(b.get(subject));
      }
    });

    it('gives a subject one key when two processes make it at once', async () => {
      const organisationId = randomUUID();
      const [here, there] = [keyring(), keyring()];
      // Both know the organisation's key, so that the data keys race, not it.
      await here.keysForWriting(organisationId, [randomUUID()]);
      await there.keysForWriting(organisationId, [randomUUID()]);
      const subjects = Array.from({ length: 20 }, () => randomUUID());
      for (const subject of subjects) {
        const [a, b] = await Promise.all([
          here.keysForWriting(organisationId, [subject]),
          there.keysForWriting(organisationId, [subject]),
        ]);
        expect(a.get(subject)!.key.equals(b.get(subject)!.key)).toBe(true);
      }
      // And batches that overlap in part.
      const batch = Array.from({ length: 10 }, () => randomUUID());
      const [a, b] = await Promise.all([
        here.keysForWriting(organisationId, batch.slice(0, 7)),
        there.keysForWriting(organisationId, batch.slice(3)),
      ]);
      for (const subject of batch.slice(3, 7))
        expect(a.get(subject)!.key.equals(b.get(subject)!.key)).toBe(true);
      const rows = await keyRows(organisationId, [...subjects, ...batch]);
      expect(rows).toHaveLength(subjects.length + batch.length);
      expect(rows.every((r) => r.version === 1 && r.live)).toBe(true);
    });

    it('refuses an erased subject, with or without other subjects, and gives it no key', async () => {
      const organisationId = randomUUID();
      const [erased, other] = [randomUUID(), randomUUID()];
      await keyring().destroy(organisationId, erased);
      for (const subjects of [[erased], [other, erased]]) {
        await expect(keyring().keysForWriting(organisationId, subjects)).rejects.toThrow(
          SubjectErasedError,
        );
      }
      expect(await keyRows(organisationId, [erased])).toEqual([
        { subject: erased, version: 1, live: false },
      ]);
    });

    it('refuses a subject erased while its key was being made', async () => {
      const organisationId = randomUUID();
      const subject = randomUUID();
      const writer = keyring();
      await writer.keysForWriting(organisationId, [randomUUID()]);
      // An erasure in flight: its tombstone is written, not yet committed.
      const eraser = await db.app.connect();
      try {
        await eraser.query('BEGIN');
        await eraser.query(`SELECT set_config('app.org_id', $1, true)`, [organisationId]);
        await eraser.query(
          `INSERT INTO data_keys (org_id, subject_id, version, destroyed_at) VALUES ($1, $2, 1, now())`,
          [organisationId, subject],
        );
        const writing = writer.keysForWriting(organisationId, [subject]);
        const outcome = writing.then(
          () => 'written',
          (error: unknown) => error,
        );
        const {
          rows: [{ pid }],
        } = await eraser.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await eventually(async () => {
          const { rows } = await db.owner.query<{ waiting: boolean }>(
            `SELECT count(*) > 0 AS waiting FROM pg_stat_activity
              WHERE $1 = ANY (pg_blocking_pids(pid))`,
            [pid],
          );
          return rows[0].waiting;
        }, 'the key to wait for the erasure');
        await eraser.query('COMMIT');
        expect(await outcome).toBeInstanceOf(SubjectErasedError);
      } finally {
        await eraser.query('ROLLBACK').catch(() => undefined);
        eraser.release();
      }
      expect(await keyRows(organisationId, [subject])).toEqual([
        { subject, version: 1, live: false },
      ]);
    });

    it('commits a new key without waiting for its flush only when told the log flushes it', async () => {
      const organisationId = randomUUID();
      const { pool, sent } = countingPool();
      const synchronousOf = async (options: PostgresKeyStoreOptions) => {
        const k = new Keyring(new PostgresKeyStore(pool, options), key);
        keyrings.push(k);
        sent.length = 0;
        await k.keysForWriting(organisationId, [randomUUID()]);
        return sent.find((s) => /data_keys_for_writing/.test(s.text))!.values.at(-1);
      };
      expect(await synchronousOf({})).toBe(true);
      expect(await synchronousOf({ newKeyCommits: 'synchronous' })).toBe(true);
      expect(await synchronousOf({ newKeyCommits: 'flushed-by-event-log' })).toBe(false);

      // What the flag does: the call's own transaction commits with synchronous_commit off.
      const settingAfter = (synchronous: boolean) =>
        withOrganisation(db.app, organisationId, async (client) => {
          await client.query(
            `SELECT * FROM data_keys_for_writing($1, ARRAY[$2], 1, ARRAY['\\x01'::bytea], $3)`,
            [organisationId, randomUUID(), synchronous],
          );
          const { rows } = await client.query<{ setting: string; org: string }>(
            `SELECT current_setting('synchronous_commit') AS setting,
                    current_setting('app.org_id') AS org`,
          );
          return rows[0];
        });
      // The caller's organisation scope is left as it was.
      expect(await settingAfter(true)).toEqual({ setting: 'on', org: organisationId });
      expect(await settingAfter(false)).toEqual({ setting: 'off', org: organisationId });
    });

    it('looks up only the subjects it is given, in a session that planned while the table was small', async () => {
      const organisationId = randomUUID();
      const session = new Pool({ connectionString: db.appUrl, max: 1 });
      pools.push(session);
      const call = (count: number, pool: Pool = session) =>
        pool.query(
          `SELECT count(*) FROM data_keys_for_writing($1, $2::text[], 1, $3::bytea[], true)`,
          [
            organisationId,
            Array.from({ length: count }, () => randomUUID()),
            Array.from({ length: count }, () => randomBytes(60)),
          ],
        );
      // PL/pgSQL settles on a generic plan after five calls: this session makes it now.
      for (let i = 0; i < 8; i += 1) await call(1);
      await call(5_000, db.app);
      const rowsRead = () => dataKeyRowsRead(session, db.owner);
      const before = await rowsRead();
      for (let i = 0; i < 10; i += 1) await call(10);
      // A scan of the organisation's keys would read 5,000 rows a call, 50,000 in all (the margin
      // is for other sessions' statistics arriving meanwhile).
      expect((await rowsRead()) - before).toBeLessThan(5_000);
    });

    it('keeps its plans (and data_keys_for_reading’s) rather than planning at every call', async () => {
      // Under the default mode a custom plan for a one-subject array always looks cheaper than the
      // generic one, so each call planned afresh: most of a create's key lookup (migration
      // KeyFunctionsGenericPlans). Only the generic plan is the one-index-lookup plan tested above.
      const { rows } = await db.owner.query<{ name: string; config: string[] | null }>(
        `SELECT proname AS name, proconfig AS config FROM pg_proc
          WHERE proname IN ('data_keys_for_writing', 'data_keys_for_reading') ORDER BY proname`,
      );
      expect(rows.map((r) => r.name)).toEqual(['data_keys_for_reading', 'data_keys_for_writing']);
      for (const { config } of rows) {
        expect(config).toEqual(
          expect.arrayContaining(['enable_seqscan=off', 'plan_cache_mode=force_generic_plan']),
        );
      }
    });

    it('runs in the organisation it names only, never inside another organisation’s scope', async () => {
      const [orgA, orgB] = [randomUUID(), randomUUID()];
      await expect(
        withOrganisation(db.app, orgA, (client) =>
          client.query(
            `SELECT * FROM data_keys_for_writing($1, ARRAY[$2], 1, ARRAY['\\x01'::bytea], true)`,
            [orgB, randomUUID()],
          ),
        ),
      ).rejects.toThrow(/another organisation's scope/);
      // Called alone, it leaves no scope behind on the connection.
      const client = await db.app.connect();
      try {
        await client.query(
          `SELECT * FROM data_keys_for_writing($1, ARRAY[$2], 1, ARRAY['\\x01'::bytea], true)`,
          [orgA, randomUUID()],
        );
        const { rows } = await client.query<{ org: string | null }>(
          `SELECT current_setting('app.org_id', true) AS org`,
        );
        expect(rows[0].org ?? '').toBe('');
        const { rowCount } = await client.query('SELECT 1 FROM data_keys');
        expect(rowCount).toBe(0);
      } finally {
        client.release();
      }
    });
  });
});
