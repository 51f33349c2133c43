import { randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import { foldForSearch } from '@beecastle/read-model';
import type { PoolClient } from 'pg';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../../libs/database/src/testing/test-database';
import { interactionPageStatement } from '../list-interactions/list-interactions.handler';
import {
  CONTACT_SORTS,
  contactListScope,
  contactListStatement,
  decodeContactListCursor,
  encodeContactListCursor,
  readContactList,
  type ContactListFilter,
  type ContactSort,
} from './contact-list';

/** A contacts row as this test writes it, with what the list is expected to order and filter by. */
interface SeedRow {
  contact_id: string;
  revision: number;
  first_name: string;
  last_name: string | null;
  emails: { address: string }[];
  company: string | null;
  tags: string[];
  archived: boolean;
  name_key: string;
  search_text: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

const NONE: ContactListFilter = {
  q: undefined,
  tag: undefined,
  company: undefined,
  archived: false,
};

/**
 * Many ties on purpose: 40 names, creation times 100 microseconds apart (a cursor to the
 * millisecond would lose rows here), 10 update times. Ids in no relation to the order.
 */
function seedRows(count: number): SeedRow[] {
  return Array.from({ length: count }, (_, n) => {
    const firstName = n % 97 === 0 ? `Zoë 100%_Réal's` : `Name${n % 40}`;
    const email = n % 500 === 0 ? `zqx${n}@example.com` : `user${n}@example.com`;
    const company = [`ACME Ltd`, `acme ltd`, `Other`, null, `Büro`][n % 5];
    const micro = String(n % 100).padStart(6, '0');
    const name = foldForSearch(firstName);
    return {
      contact_id: `c${((n * 7919) % 100_003).toString(36)}-${n}`,
      revision: 0,
      first_name: firstName,
      last_name: null,
      emails: [{ address: email }],
      company,
      tags: n % 3 === 0 ? ['vip'] : n % 250 === 1 ? ['rare'] : [],
      archived: n % 7 === 0,
      name_key: name,
      search_text: [name, email, company ? foldForSearch(company) : '']
        .filter((l) => l !== '')
        .join('\n'),
      created_at: `2025-01-01T00:00:00.${micro}Z`,
      updated_at: `2025-01-01T00:0${n % 10}:00.000000Z`,
      created_by: 'seed',
      updated_by: 'seed',
    };
  });
}

/** The expected order, worked out here rather than by the database: byte order, as "C" compares. */
function expected(rows: readonly SeedRow[], filter: ContactListFilter, sort: ContactSort) {
  const descending = sort.startsWith('-');
  const key = (r: SeedRow) =>
    ({ name: r.name_key, createdAt: r.created_at, updatedAt: r.updated_at })[
      descending ? (sort.slice(1) as 'name') : (sort as 'name')
    ];
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  const compare = (a: SeedRow, b: SeedRow) =>
    Buffer.compare(bytes(key(a)), bytes(key(b))) ||
    Buffer.compare(bytes(a.contact_id), bytes(b.contact_id));
  return rows
    .filter((r) => r.archived === filter.archived)
    .filter((r) => filter.q === undefined || r.search_text.includes(foldForSearch(filter.q)))
    .filter((r) => filter.tag === undefined || r.tags.includes(filter.tag))
    .filter(
      (r) =>
        filter.company === undefined || r.company?.toLowerCase() === filter.company.toLowerCase(),
    )
    .sort((a, b) => (descending ? -compare(a, b) : compare(a, b)))
    .map((r) => r.contact_id);
}

describe('contact list queries (PostgreSQL)', () => {
  let db: TestDatabase;
  const org = randomUUID();
  const crowd = randomUUID();
  const rows = seedRows(3_000);

  const insert = (organisationId: string, seed: readonly SeedRow[]) =>
    withOrganisation(db.app, organisationId, (client) =>
      client.query(
        `INSERT INTO contacts (org_id, contact_id, revision, first_name, last_name, emails, company,
                               tags, archived, name_key, search_text, created_at, updated_at,
                               created_by, updated_by)
         SELECT $1, r.* FROM jsonb_to_recordset($2::jsonb) AS r(contact_id text, revision bigint,
           first_name text, last_name text, emails jsonb, company text, tags text[],
           archived boolean, name_key text, search_text text, created_at timestamptz,
           updated_at timestamptz, created_by text, updated_by text)`,
        [organisationId, JSON.stringify(seed)],
      ),
    );

  /** Every page, as a client following nextCursor would read them (cursors round-tripped). */
  const allPages = async (filter: ContactListFilter, sort: ContactSort, limit: number) =>
    withOrganisation(db.app, org, async (client) => {
      const scope = contactListScope(org, filter, sort);
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const after =
          cursor === undefined ? undefined : decodeContactListCursor(cursor, sort, scope);
        if (after === 'malformed' || after === 'other-query') throw new Error(after);
        const page = await readContactList(client, org, filter, sort, limit, after);
        ids.push(...page.items.map((item) => item.id));
        cursor = page.next && encodeContactListCursor(page.next, sort, scope);
        pages += 1;
      } while (cursor !== undefined && pages < 1_000);
      return { ids, pages };
    });

  const plan = (client: PoolClient, statement: { text: string; values: unknown[] }) =>
    client
      .query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values)
      .then((result) => result.rows.map((r) => r['QUERY PLAN']).join('\n'));

  beforeAll(async () => {
    db = await createTestDatabase();
    await insert(org, rows);
    // Another organisation's crowd, so that the planner sees a table where the organisation
    // matters; none of it may ever show in `org`'s lists.
    const others = seedRows(20_000).map((r) => ({ ...r, contact_id: `x${r.contact_id}` }));
    for (let i = 0; i < others.length; i += 5_000) await insert(crowd, others.slice(i, i + 5_000));
    await db.owner.query('ANALYZE contacts');
  });

  afterAll(async () => {
    await db.drop();
  });

  it.each(CONTACT_SORTS)(
    'pages every contact exactly once, in order, sorted by %s, whatever the filter',
    async (sort) => {
      for (const filter of [
        NONE,
        { ...NONE, archived: true },
        { ...NONE, tag: 'vip' },
        { ...NONE, company: 'aCmE LTD' },
        { ...NONE, q: 'NAME1' },
        { ...NONE, q: 'büro', tag: 'vip' },
      ]) {
        const want = expected(rows, filter, sort);
        expect(want.length).toBeGreaterThan(50);
        const { ids, pages } = await allPages(filter, sort, 37);
        expect({ filter, ids }).toEqual({ filter, ids: want });
        expect(pages).toBe(Math.ceil(want.length / 37));
      }
    },
  );

  it('takes %, _, quotes and SQL in q as plain text', async () => {
    const search = (q: string) =>
      withOrganisation(db.app, org, (client) =>
        readContactList(client, org, { ...NONE, q }, 'name', 200, undefined),
      ).then((page) => page.items.map((item) => item.id).sort());

    const odd = expected(rows, { ...NONE, q: "100%_réal's" }, 'name').sort();
    expect(odd.length).toBeGreaterThan(5);
    expect(await search("100%_RÉAL'S")).toEqual(odd);
    expect(await search('%')).toEqual(odd);
    expect(await search('_')).toEqual(odd);
    expect(await search("'")).toEqual(odd);
    expect(await search('1%0')).toEqual([]);
    expect(await search("'; DROP TABLE contacts; --")).toEqual([]);
    expect(await search('\\')).toEqual([]);
    const count = await withOrganisation(db.app, org, (client) =>
      client.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts'),
    );
    expect(count.rows[0].n).toBe(rows.length);
  });

  it('never lists another organisation’s contacts, whatever the query', async () => {
    const { ids } = await allPages(NONE, 'name', 200);
    expect(ids.some((id) => id.startsWith('x'))).toBe(false);
    // The crowd under its own organisation, read with `org` in the statement: RLS admits nothing.
    const leaked = await withOrganisation(db.app, crowd, (client) =>
      readContactList(client, org, NONE, 'name', 200, undefined),
    );
    expect(leaked.items).toEqual([]);
  });

  it('reads only the organisation’s rows through an index for q, tag and company, and a cursor page in index order', async () => {
    await withOrganisation(db.app, org, async (client) => {
      // A rare fragment is looked up in the organisation's trigram entries: under FORCE ROW LEVEL
      // SECURITY that needs textlike to be LEAKPROOF, which provisioning declares.
      const search = await plan(
        client,
        contactListStatement(org, { ...NONE, q: 'zqx' }, 'name', 50, undefined),
      );
      expect(search).toMatch(/Bitmap Index Scan on contacts_search/);
      expect(search).toMatch(/Index Cond: \(+org_id = .*search_text ~~/s);
      expect(search).not.toContain('Seq Scan');

      // A rare tag too, from the tags' GIN index: under FORCE ROW LEVEL SECURITY that needs
      // arraycontains (`@>`) to be LEAKPROOF, which provisioning declares.
      const rare = contactListStatement(org, { ...NONE, tag: 'rare' }, 'name', 50, undefined);
      const tag = await plan(client, rare);
      expect(tag).toMatch(/Bitmap Index Scan on contacts_tags/);
      expect(tag).toMatch(/Index Cond: \(+org_id = .*tags @> /s);
      expect(tag).not.toContain('Seq Scan');
      const { rows: found } = await client.query<{ contact_id: string }>(rare);
      expect(found.map((r) => r.contact_id)).toEqual(
        expected(rows, { ...NONE, tag: 'rare' }, 'name'),
      );
      expect(found.length).toBeGreaterThan(5);

      // The company is looked up in the index too, not filtered from every contact's row.
      const company = await plan(
        client,
        contactListStatement(org, { ...NONE, company: 'Zqx Holdings' }, 'name', 50, undefined),
      );
      expect(company).toMatch(/contacts_company_key/);
      expect(company).toMatch(/Index Cond: \(+org_id = .*company_key = /s);
      expect(company).not.toMatch(/Filter: .*company/);
      expect(company).not.toContain('Seq Scan');

      const byName = await plan(
        client,
        contactListStatement(org, NONE, 'name', 50, { key: 'name2', id: 'c1' }),
      );
      expect(byName).toMatch(/Index Scan using contacts_by_name/);
      expect(byName).toMatch(/Index Cond: .*ROW\(name_key, contact_id\) > ROW/);
      expect(byName).not.toMatch(/Sort|Seq Scan/);

      const newest = await plan(
        client,
        contactListStatement(org, NONE, '-updatedAt', 50, {
          key: '2025-01-01T00:05:00.000000Z',
          id: 'c1',
        }),
      );
      expect(newest).toMatch(/Index Scan Backward using contacts_by_updated/);
      expect(newest).toMatch(/Index Cond: .*ROW\(updated_at, contact_id\) < ROW/);
      expect(newest).not.toMatch(/Sort|Seq Scan/);
    });
  });

  it('pages a contact’s interactions from interactions_newest, newest first', async () => {
    const contactId = rows[1].contact_id;
    const interactions = Array.from({ length: 2_000 }, (_, n) => ({
      interaction_id: `i${(n * 31) % 2_000}`,
      occurred_at: new Date(Date.UTC(2025, 0, 1) + (n % 300) * 1_000).toISOString(),
    }));
    await withOrganisation(db.app, org, (client) =>
      client.query(
        `INSERT INTO interactions (org_id, contact_id, interaction_id, revision, type, occurred_at,
                                   created_at, updated_at, created_by, updated_by)
         SELECT $1, $2, r.interaction_id, 1, 'note', r.occurred_at, now(), now(), 'seed', 'seed'
           FROM jsonb_to_recordset($3::jsonb) AS r(interaction_id text, occurred_at timestamptz)`,
        [org, contactId, JSON.stringify(interactions)],
      ),
    );
    await db.owner.query('ANALYZE interactions');
    await withOrganisation(db.app, org, async (client) => {
      const page = await plan(
        client,
        interactionPageStatement(org, contactId, { k: '2025-01-01T00:02:00.000000Z', i: 'i9' }, 50),
      );
      expect(page).toMatch(/Index Scan using interactions_newest/);
      expect(page).toMatch(/Index Cond: .*ROW\(occurred_at, interaction_id\) < ROW/);
      expect(page).not.toMatch(/Sort|Seq Scan/);

      // And the pages themselves: every interaction once, newest first, ties by id descending.
      const seen: string[] = [];
      let after: { k: string; i: string } | undefined;
      for (;;) {
        const { rows: found } = await client.query<{
          interaction_id: string;
          occurred_key: string;
        }>(interactionPageStatement(org, contactId, after, 99));
        seen.push(...found.slice(0, 99).map((r) => r.interaction_id));
        if (found.length <= 99) break;
        const last = found[98];
        after = { k: last.occurred_key, i: last.interaction_id };
      }
      const want = [...interactions]
        .sort((a, b) =>
          a.occurred_at === b.occurred_at
            ? Buffer.compare(Buffer.from(b.interaction_id), Buffer.from(a.interaction_id))
            : a.occurred_at < b.occurred_at
              ? 1
              : -1,
        )
        .map((i) => i.interaction_id);
      expect(seen).toEqual(want);
    });
  });
});
