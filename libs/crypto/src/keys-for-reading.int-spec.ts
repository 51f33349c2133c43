import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Pool, type ClientConfig } from 'pg';
import { withOrganisation } from '@beecastle/database';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import { KeyUnavailableError } from './errors';
import { Keyring, dataKeyId } from './keyring';
import { LocalMasterKeyProvider } from './master-key';
import { PostgresKeyStore } from './postgres-key-store';
import { dataKeyRowsRead } from './testing/data-key-rows-read';

/** Keys for reading: one round trip (data_keys_for_reading), and lookups begun ahead of use. */
describe('keys for reading (PostgreSQL)', () => {
  let db: TestDatabase;
  const key = new LocalMasterKeyProvider(randomBytes(32), 'a test key');
  const keyrings: Keyring[] = [];
  const pools: Pool[] = [];

  /** A pool of the application role that records every statement it sends. */
  const countingPool = () => {
    const sent: string[] = [];
    class CountingClient extends Client {
      constructor(config?: string | ClientConfig) {
        super(config);
        const query = this.query.bind(this) as (...args: unknown[]) => unknown;
        (this as { query: unknown }).query = (...args: unknown[]) => {
          const first = args[0] as string | { text: string };
          sent.push(typeof first === 'string' ? first : first.text);
          return query(...args);
        };
      }
    }
    const pool = new Pool({ connectionString: db.appUrl, Client: CountingClient, max: 2 });
    pools.push(pool);
    return { pool, sent };
  };

  /** A keyring with its store, listening for destructions unless told not to. */
  const keyring = (options: { pool?: Pool; listen?: boolean } = {}) => {
    const store = new PostgresKeyStore(options.pool ?? db.app, {
      listenConnectionString: options.listen === false ? undefined : db.appUrl,
    });
    const made = new Keyring(store, key);
    keyrings.push(made);
    return { keyring: made, store };
  };

  /** Resolves once `store`'s feed has told its keyring of this subject's destruction. */
  const heard = (store: PostgresKeyStore, organisationId: string, subjectId: string) =>
    new Promise<void>((resolve) => {
      const stop = store.destructions!.subscribe((o, s) => {
        if (o === organisationId && s === subjectId) {
          stop();
          resolve();
        }
      });
    });

  const listening = async (store: PostgresKeyStore) => {
    const deadline = Date.now() + 5_000;
    while (!store.destructions!.watching()) {
      if (Date.now() > deadline) throw new Error('the destruction feed did not start');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(keyrings.map((k) => k.close()));
    await Promise.all(pools.map((p) => p.end()));
    await db.drop();
  });

  describe('data_keys_for_reading', () => {
    it('answers the named subjects of the organisation it names, erased ones without bytes, and nothing of another’s', async () => {
      const [orgA, orgB] = [randomUUID(), randomUUID()];
      const { keyring: writer } = keyring();
      const [live, erased, other] = [randomUUID(), randomUUID(), randomUUID()];
      await writer.keysForWriting(orgA, [live, erased]);
      await writer.keysForWriting(orgB, [other]);
      await writer.destroy(orgA, erased);

      const { rows } = await db.app.query<{
        subject_id: string;
        version: number;
        wrapped: boolean;
      }>(
        `SELECT subject_id, version, wrapped_key IS NOT NULL AS wrapped
           FROM data_keys_for_reading($1, $2::text[]) ORDER BY subject_id`,
        [orgA, [live, erased, other, randomUUID()]],
      );
      expect(rows).toEqual(
        [
          { subject_id: live, version: 1, wrapped: true },
          { subject_id: erased, version: 1, wrapped: false },
        ].sort((a, b) => a.subject_id.localeCompare(b.subject_id)),
      );
      // The other organisation's subject exists, under its own organisation only.
      const { rowCount } = await db.app.query(
        `SELECT 1 FROM data_keys_for_reading($1, ARRAY[$2])`,
        [orgB, other],
      );
      expect(rowCount).toBe(1);
    });

    it('runs in the organisation it names only, and leaves the caller’s scope as it was', async () => {
      const [orgA, orgB] = [randomUUID(), randomUUID()];
      await expect(
        withOrganisation(db.app, orgA, (client) =>
          client.query(`SELECT * FROM data_keys_for_reading($1, ARRAY[$2])`, [orgB, 'x']),
        ),
      ).rejects.toThrow(/another organisation's scope/);
      const inScope = await withOrganisation(db.app, orgA, async (client) => {
        await client.query(`SELECT * FROM data_keys_for_reading($1, ARRAY[$2])`, [orgA, 'x']);
        const { rows } = await client.query<{ org: string }>(
          `SELECT current_setting('app.org_id') AS org`,
        );
        return rows[0].org;
      });
      expect(inScope).toBe(orgA);
      // Called alone, it leaves no scope behind on the connection.
      const client = await db.app.connect();
      try {
        await client.query(`SELECT * FROM data_keys_for_reading($1, ARRAY[$2])`, [orgA, 'x']);
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

    it('looks up only the subjects it is given, in a session that planned while the table was small', async () => {
      const organisationId = randomUUID();
      const session = new Pool({ connectionString: db.appUrl, max: 1 });
      pools.push(session);
      const call = (subjects: readonly string[]) =>
        session.query(`SELECT count(*) FROM data_keys_for_reading($1, $2::text[])`, [
          organisationId,
          subjects,
        ]);
      // PL/pgSQL settles on a generic plan after five calls: this session makes it now.
      for (let i = 0; i < 8; i += 1) await call([randomUUID()]);
      const subjects = Array.from({ length: 5_000 }, () => randomUUID());
      await db.app.query(
        `SELECT count(*) FROM data_keys_for_writing($1, $2::text[], 1, $3::bytea[], true)`,
        [organisationId, subjects, subjects.map(() => randomBytes(60))],
      );
      const rowsRead = () => dataKeyRowsRead(session, db.owner);
      const before = await rowsRead();
      for (let i = 0; i < 10; i += 1) {
        const { rows } = await call(subjects.slice(i * 10, i * 10 + 10));
        expect(Number((rows[0] as { count: string }).count)).toBe(10);
      }
      // A scan of the organisation's keys would read 5,000 rows a call, 50,000 in all (the margin
      // is for other sessions' statistics arriving meanwhile).
      expect((await rowsRead()) - before).toBeLessThan(5_000);
    });

    it('is the keyring’s one round trip for keys it does not hold', async () => {
      const organisationId = randomUUID();
      const { keyring: writer } = keyring();
      const subjects = [randomUUID(), randomUUID(), randomUUID()];
      await writer.keysForWriting(organisationId, subjects);
      const { pool, sent } = countingPool();
      const { keyring: reader } = keyring({ pool, listen: false });
      // The master key check and the organisation key first, once.
      await reader.keysForReading(organisationId, [dataKeyId(subjects[0], 1)]);
      sent.length = 0;
      const keys = await reader.keysForReading(
        organisationId,
        subjects.slice(1).map((s) => dataKeyId(s, 1)),
      );
      expect(keys.size).toBe(2);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatch(/data_keys_for_reading/);
    });
  });

  describe('keysForReadingAhead', () => {
    it('answers what keysForReading would: the keys, erased ones as destroyed', async () => {
      const organisationId = randomUUID();
      const { keyring: writer } = keyring();
      const [live, erased] = [randomUUID(), randomUUID()];
      const written = await writer.keysForWriting(organisationId, [live, erased]);
      await writer.destroy(organisationId, erased);
      const { keyring: reader, store } = keyring();
      await listening(store);
      const keys = await reader.keysForReadingAhead(organisationId, [
        dataKeyId(live, 1),
        dataKeyId(erased, 1),
      ])();
      expect(keys.get(dataKeyId(live, 1))).toEqual(written.get(live)!.key);
      expect(keys.get(dataKeyId(erased, 1))).toBe('destroyed');
    });

    it('reads as destroyed a key destroyed by another process after the lookup began', async () => {
      const organisationId = randomUUID();
      const { keyring: writer } = keyring();
      const subject = randomUUID();
      await writer.keysForWriting(organisationId, [subject]);
      const { keyring: reader, store } = keyring();
      await listening(store);
      const keyId = dataKeyId(subject, 1);
      const later = reader.keysForReadingAhead(organisationId, [keyId]);
      // Let the early lookup finish: it found the live key.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const told = heard(store, organisationId, subject);
      await keyring().keyring.destroy(organisationId, subject);
      await told;
      expect((await later()).get(keyId)).toBe('destroyed');
    });

    it('reads as destroyed a key this keyring destroyed after the lookup began', async () => {
      const organisationId = randomUUID();
      const { keyring: shared, store } = keyring();
      await listening(store);
      const subject = randomUUID();
      await shared.keysForWriting(organisationId, [subject]);
      const keyId = dataKeyId(subject, 1);
      const later = shared.keysForReadingAhead(organisationId, [keyId]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await shared.destroy(organisationId, subject);
      expect((await later()).get(keyId)).toBe('destroyed');
    });

    it('fails, when the keys are asked for, on an id the key store does not know', async () => {
      const organisationId = randomUUID();
      const { keyring: writer } = keyring();
      const subject = randomUUID();
      await writer.keysForWriting(organisationId, [subject]);
      const { keyring: reader, store } = keyring();
      await listening(store);
      const later = reader.keysForReadingAhead(organisationId, [
        dataKeyId(subject, 1),
        dataKeyId(randomUUID(), 1),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await expect(later()).rejects.toBeInstanceOf(KeyUnavailableError);
    });

    it('looks nothing up early while the destruction feed is not heard', async () => {
      const organisationId = randomUUID();
      const { keyring: writer } = keyring();
      const subject = randomUUID();
      await writer.keysForWriting(organisationId, [subject]);
      const { pool, sent } = countingPool();
      const { keyring: reader } = keyring({ pool, listen: false });
      await reader.assertMasterKey();
      sent.length = 0;
      const later = reader.keysForReadingAhead(organisationId, [dataKeyId(subject, 1)]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sent).toHaveLength(0);
      expect((await later()).get(dataKeyId(subject, 1))).toBeInstanceOf(Buffer);
      expect(sent.some((s) => /data_keys_for_reading/.test(s))).toBe(true);
    });
  });
});
