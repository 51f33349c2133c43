import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { ID_RULES } from './1764000000016-CheaperIdChecks';

/** Values at every edge of the rules: lengths, each class's bounds, its neighbours, newlines. */
const EDGE_VALUES: readonly string[] = [
  '',
  'a',
  'A',
  'z',
  'Z',
  '0',
  '9',
  '_',
  '-',
  '.',
  '9b2f7a61-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
  'contact_42',
  'x'.repeat(62),
  'x'.repeat(63),
  'x'.repeat(64),
  'x'.repeat(65),
  'k'.repeat(200),
  'k'.repeat(201),
  'k'.repeat(255),
  'k'.repeat(256),
  'abc\n',
  '\nabc',
  'ab\ncd',
  'abc ',
  ' abc',
  'a b',
  'abc$',
  'ab/cd',
  'ab%cd',
  "ab'cd",
  'ab~cd',
  '!',
  '~',
  'ab\u007fcd',
  'ab\u0020cd',
  'ab\u00e9cd',
  'ab\u2010cd',
  'Ⅻ',
  'ａｂｃ',
  '0abc',
  '_abc',
  '-abc',
  '.abc',
  'abc.def',
  'abc@def',
  'ABC',
  'aBC',
  'read-model.contacts_v2',
];

describe('CheaperIdChecks: the same identifier rules, cheaper', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it.each(ID_RULES.map((rule) => [rule.constraint, rule] as const))(
    '%s accepts exactly what the rule it replaces accepted',
    async (_name, { before, after, constraint, table, column }) => {
      const { rows } = await db.owner.query<{ value: string; before: boolean; after: boolean }>(
        `SELECT ${column} AS value, (${before}) AS before, (${after}) AS after
           FROM unnest($1::text[]) AS v(${column})`,
        [EDGE_VALUES],
      );
      expect(rows.filter((r) => r.before !== r.after)).toEqual([]);
      // Both kinds of value are among the edges, so the comparison says something.
      expect(rows.some((r) => r.after)).toBe(true);
      expect(rows.some((r) => !r.after)).toBe(true);
      // And it is the rule the table now has.
      const { rows: defined } = await db.owner.query<{ definition: string }>(
        `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint
          WHERE conrelid = $1::regclass AND conname = $2`,
        [table, constraint],
      );
      expect(defined).toHaveLength(1);
      expect(defined[0].definition).toContain('!~');
    },
  );

  it('still refuses a row that breaks the rule, with a check violation', async () => {
    const client = await db.owner.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `SELECT set_config('app.org_id', gen_random_uuid()::text, true), set_config('app.user_id', '', true)`,
      );
      await expect(
        client.query(
          `INSERT INTO data_keys (org_id, subject_id, version, organisation_key_version, wrapped_key)
           VALUES (current_setting('app.org_id')::uuid, 'bad id', 1, 1, '\\x01')`,
        ),
      ).rejects.toMatchObject({ code: '23514', constraint: 'data_keys_subject_id_check' });
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
