import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { QueryRunner } from 'typeorm';
import { withOrganisation } from '../organisation-scope';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { IndexedTagFilter1764000000019 } from './1764000000019-IndexedTagFilter';

type Tagged = readonly [contactId: string, tags: readonly (string | null)[]];

describe('IndexedTagFilter: contact_tags follows the contacts’ tags', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  const insert = (client: PoolClient, org: string, contacts: readonly Tagged[]) =>
    client.query(
      `INSERT INTO contacts (org_id, contact_id, revision, tags, name_key, search_text, created_at,
                             updated_at, created_by, updated_by)
       SELECT $1, r.id, 1, r.tags, r.id, r.id, now(), now(), 'seed', 'seed'
         FROM jsonb_to_recordset($2::jsonb) AS r(id text, tags text[])`,
      [org, JSON.stringify(contacts.map(([id, tags]) => ({ id, tags })))],
    );

  /** What the organisation sees in contact_tags, as "contact:tag". */
  const tagRows = (org: string) =>
    withOrganisation(db.app, org, async (client) => {
      const { rows } = await client.query<{ row: string }>(
        `SELECT contact_id || ':' || tag AS row FROM contact_tags ORDER BY contact_id, tag`,
      );
      return rows.map((r) => r.row);
    });

  it('adds, moves and removes rows with inserts, updates, upserts, deletes and truncation, in the writer’s organisation', async () => {
    const org = randomUUID();
    const other = randomUUID();
    await withOrganisation(db.app, org, (client) =>
      insert(client, org, [
        ['c1', ['a', 'b']],
        ['c2', ['b']],
        ['c3', []],
        ['c4', ['a', 'a', null]],
      ]),
    );
    await withOrganisation(db.app, other, (client) => insert(client, other, [['c1', ['x']]]));
    expect(await tagRows(org)).toEqual(['c1:a', 'c1:b', 'c2:b', 'c4:a']);
    expect(await tagRows(other)).toEqual(['c1:x']);

    await withOrganisation(db.app, org, async (client) => {
      await client.query(`UPDATE contacts SET tags = '{b,c}' WHERE contact_id = 'c1'`);
      await client.query(`UPDATE contacts SET first_name = 'Ada' WHERE contact_id = 'c2'`);
      await client.query(`UPDATE contacts SET tags = '{a}' WHERE contact_id = 'c3'`);
      // A NULL kept beside a dropped tag: the drop is seen, the NULL makes no row.
      await client.query(`UPDATE contacts SET tags = '{NULL}' WHERE contact_id = 'c4'`);
    });
    expect(await tagRows(org)).toEqual(['c1:b', 'c1:c', 'c2:b', 'c3:a']);

    // The projection's batch upsert: a new row, a row that advances, a stale one that does not.
    await withOrganisation(db.app, org, (client) =>
      client.query(
        `INSERT INTO contacts (org_id, contact_id, revision, tags, name_key, search_text,
                               created_at, updated_at, created_by, updated_by)
         SELECT $1, r.id, r.revision, r.tags, r.id, r.id, now(), now(), 'p', 'p'
           FROM jsonb_to_recordset($2::jsonb) AS r(id text, revision bigint, tags text[])
         ON CONFLICT (org_id, contact_id) DO UPDATE SET
           revision = EXCLUDED.revision, tags = EXCLUDED.tags
         WHERE contacts.revision < EXCLUDED.revision`,
        [
          org,
          JSON.stringify([
            { id: 'c5', revision: 1, tags: ['e'] },
            { id: 'c1', revision: 2, tags: ['c', 'd'] },
            { id: 'c2', revision: 1, tags: ['stale'] },
          ]),
        ],
      ),
    );
    expect(await tagRows(org)).toEqual(['c1:c', 'c1:d', 'c2:b', 'c3:a', 'c5:e']);

    await withOrganisation(db.app, org, (client) =>
      client.query(`DELETE FROM contacts WHERE contact_id IN ('c1', 'c3')`),
    );
    expect(await tagRows(org)).toEqual(['c2:b', 'c5:e']);
    expect(await tagRows(other)).toEqual(['c1:x']);
    // Nothing without an organisation's scope.
    const unscoped = await db.app.query(`SELECT count(*)::int AS n FROM contact_tags`);
    expect(unscoped.rows).toEqual([{ n: 0 }]);

    // An owner's TRUNCATE (a rebuild from scratch) takes every organisation's rows with it.
    await db.owner.query('TRUNCATE contacts');
    expect(await tagRows(org)).toEqual([]);
    expect(await tagRows(other)).toEqual([]);
  });

  it('refuses a row for another organisation than the transaction’s', async () => {
    const org = randomUUID();
    await expect(
      withOrganisation(db.app, org, (client) =>
        client.query(`INSERT INTO contact_tags (org_id, tag, contact_id) VALUES ($1, 'a', 'c1')`, [
          randomUUID(),
        ]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('copies the tags of the contacts already there when it runs, and its down restores the GIN index', async () => {
    const org = randomUUID();
    const client = await db.owner.connect();
    const runner = { query: (sql: string) => client.query(sql) } as unknown as QueryRunner;
    const migration = new IndexedTagFilter1764000000019();
    try {
      await client.query('BEGIN');
      await migration.down(runner);
      const gin = await client.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'contacts_tags'`);
      expect(gin.rowCount).toBe(1);
      await client.query(`SELECT set_config('app.org_id', $1, true)`, [org]);
      await insert(client, org, [
        ['c1', ['a', 'b']],
        ['c2', []],
        ['c3', ['b', 'b']],
      ]);
      await client.query(`SELECT set_config('app.org_id', '', true)`);
      await migration.up(runner);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
    expect(await tagRows(org)).toEqual(['c1:a', 'c1:b', 'c3:b']);
    const forced = await db.owner.query<{ relname: string; relforcerowsecurity: boolean }>(
      `SELECT relname, relforcerowsecurity FROM pg_class
        WHERE relname IN ('contacts', 'contact_tags') ORDER BY relname`,
    );
    expect(forced.rows).toEqual([
      { relname: 'contact_tags', relforcerowsecurity: true },
      { relname: 'contacts', relforcerowsecurity: true },
    ]);
  });
});
