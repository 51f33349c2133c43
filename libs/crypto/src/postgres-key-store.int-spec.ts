import { randomBytes, randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { KeyUnavailableError, MasterKeyMismatchError, SubjectErasedError } from './errors';
import { Keyring, dataKeyId } from './keyring';
import { LocalMasterKeyProvider } from './master-key';
import { PostgresKeyStore } from './postgres-key-store';

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
});
