import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { GIN_PENDING_LIST_KB } from './1764000000018-SmallerGinPendingLists';

describe('GIN pending lists (migration SmallerGinPendingLists)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('bounds the pending list of every GIN index in the schema, a new one included', async () => {
    // Every GIN index, not a list of names: one added later without the setting fails here.
    const { rows } = await db.owner.query<{ index: string; options: string[] | null }>(
      `SELECT c.relname AS index, c.reloptions AS options
         FROM pg_class c
         JOIN pg_am am ON am.oid = c.relam
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE am.amname = 'gin' AND n.nspname = 'public'
        ORDER BY c.relname`,
    );
    expect(rows.map((r) => r.index)).toEqual(['contacts_search', 'contacts_tags']);
    for (const row of rows) {
      expect({ index: row.index, options: row.options }).toEqual({
        index: row.index,
        options: [`gin_pending_list_limit=${GIN_PENDING_LIST_KB}`],
      });
    }
  });
});
