/* Benchmark of the contact list's tag filter. Run: npm run bench:tags (under flock /tmp/beecastle-bench.lock)
 *
 * One large organisation (BENCH_TAG_CONTACTS contacts, 200,000 by default) beside a crowd of other
 * organisations' contacts, written straight into the read model as the projection writes it (one
 * statement per batch, the triggers of migration IndexedTagFilter keeping contact_tags). Then, for
 * tags on few to all of its contacts, the first page (limit 50, by name) as the API reads it
 * (readContactList: the tag's ids from contact_tags when they are at most TAGGED_LOOKUP_MAX, else
 * along the sort index), beside the statement the list ran before that migration (`tags @>` on
 * each row of the organisation's sort index, the only plan row-level security allowed it),
 * alternating sample by sample, as the application role under row-level security over TLS.
 * Last, what contact_tags costs the projection's writes: batch upserts of the same rows with its
 * triggers on and off (as the superuser), alternating batch by batch. */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Pool, PoolClient } from 'pg';
import { Pool as PgPool } from 'pg';
import {
  TAGGED_LOOKUP_MAX,
  contactListStatement,
  readContactList,
  type ContactListFilter,
} from '../../apps/api/src/contacts/list-contacts/contact-list';
import { withOrganisation } from '../../libs/database/src/organisation-scope';
import { createPool } from '../../libs/database/src/pool';
import { fmt, latencySummary, startBenchDatabase, type LatencySummary } from './bench-database';

const CONTACTS = Number(process.env.BENCH_TAG_CONTACTS ?? '200000');
const CROWD = Number(process.env.BENCH_TAG_CROWD ?? '200000');
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? '200');
const WRITE_BATCHES = Number(process.env.BENCH_TAG_WRITE_BATCHES ?? '40');
const BATCH = 500;
// BENCH_PLANS=1 prints each list's plan as it ran (EXPLAIN ANALYZE), for diagnosis.
const PLANS = process.env.BENCH_PLANS === '1';

/** The tags of contact n of `total`: how many of them carry each, from a handful to all. */
function tagsOf(n: number, total: number): string[] {
  const tags = ['all'];
  if (n % 100 === 3) tags.push('one-percent');
  // Just under and just over the lookup limit, whatever the organisation's size.
  const under = Math.max(1, Math.floor(total / (TAGGED_LOOKUP_MAX * 0.8)));
  const over = Math.max(1, Math.floor(total / (TAGGED_LOOKUP_MAX * 1.2)));
  if (n % under === 1) tags.push('under-limit');
  if (n % over === 2) tags.push('over-limit');
  if (n % Math.max(1, Math.floor(total / 20)) === 5) tags.push('twenty');
  return tags;
}

const COLUMNS = `contact_id text, revision bigint, first_name text, last_name text, tags text[],
  name_key text, search_text text, created_at timestamptz, updated_at timestamptz,
  created_by text, updated_by text`;

/** The projection's batch upsert (contacts.projection.ts writeContacts), for the rows given. */
function upsert(client: PoolClient, org: string, rows: readonly object[]) {
  return client.query(
    `INSERT INTO contacts (org_id, contact_id, revision, first_name, last_name, tags, name_key,
                           search_text, created_at, updated_at, created_by, updated_by)
     SELECT $1::uuid, r.* FROM jsonb_to_recordset($2::jsonb) AS r(${COLUMNS})
     ON CONFLICT (org_id, contact_id) DO UPDATE SET
       revision = EXCLUDED.revision, first_name = EXCLUDED.first_name,
       last_name = EXCLUDED.last_name, tags = EXCLUDED.tags, name_key = EXCLUDED.name_key,
       search_text = EXCLUDED.search_text, updated_at = EXCLUDED.updated_at,
       updated_by = EXCLUDED.updated_by
     WHERE contacts.revision < EXCLUDED.revision`,
    [org, JSON.stringify(rows)],
  );
}

function row(n: number, total: number, revision: number, tags = tagsOf(n, total)) {
  const name = `name ${String((n * 7919) % total).padStart(7, '0')}`;
  return {
    contact_id: `c${n}`,
    revision,
    first_name: 'Name',
    last_name: String(n),
    tags,
    name_key: name,
    search_text: name,
    created_at: new Date(Date.UTC(2025, 0, 1) + n).toISOString(),
    updated_at: new Date(Date.UTC(2025, 0, 1) + n).toISOString(),
    created_by: 'bench',
    updated_by: 'bench',
  };
}

async function seed(app: Pool, org: string, total: number): Promise<void> {
  for (let start = 0; start < total; start += 5_000) {
    const rows = Array.from({ length: Math.min(5_000, total - start) }, (_, i) =>
      row(start + i, total, 0),
    );
    await withOrganisation(app, org, (client) => upsert(client, org, rows));
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function line(cells: readonly string[]): void {
  const widths = [36, 22, 22, 9, 0];
  console.log(cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' '));
}

const ms = (l: LatencySummary) => `${fmt(l.p50, 2)} / ${fmt(l.p99, 2)} ms`;

async function main(): Promise<void> {
  console.log(`bench:tags  node ${process.version}  ${new Date().toISOString()}`);
  const db = await startBenchDatabase();
  const app = createPool(db.appUrl, { applicationName: 'bench-tags', max: 2 });
  const suUrl = new URL(db.superuserUrl);
  suUrl.pathname = new URL(db.ownerUrl).pathname;
  const superuser = new PgPool({ connectionString: suUrl.toString(), max: 1 });
  superuser.on('error', () => undefined);
  try {
    const org = randomUUID();
    const seedStarted = performance.now();
    await seed(app, org, CONTACTS);
    for (let i = 0; i < 10; i++) await seed(app, randomUUID(), Math.ceil(CROWD / 10));
    console.log(
      `seeded ${fmt(CONTACTS)} contacts in one organisation and ${fmt(CROWD)} in 10 others, through the read model: ${fmt((performance.now() - seedStarted) / 1000, 1)} s`,
    );
    await superuser.query('VACUUM (ANALYZE) contacts, contact_tags');
    console.log(
      `connections: ${db.transport}; application role, row-level security forced; TAGGED_LOOKUP_MAX = ${fmt(TAGGED_LOOKUP_MAX)}; ${SAMPLES} samples each, alternating`,
    );
    console.log('');
    line(['first page (limit 50, by name)', 'list p50 / p99', 'before p50 / p99', 'p99 ratio', '']);

    const counts = await withOrganisation(app, org, async (client) => {
      const { rows } = await client.query<{ tag: string; n: number }>(
        `SELECT tag, count(*)::int AS n FROM contact_tags GROUP BY tag`,
      );
      return new Map(rows.map((r) => [r.tag, r.n]));
    });
    const tags = ['twenty', 'under-limit', 'over-limit', 'one-percent', 'all', 'nobody'];
    const figures: Record<string, unknown> = {};
    for (const tag of tags) {
      const filter: ContactListFilter = { q: undefined, tag, company: undefined, archived: false };
      const now: number[] = [];
      const before: number[] = [];
      let listed = 0;
      await withOrganisation(app, org, async (client) => {
        const list = () => readContactList(client, org, filter, 'name', 50, undefined);
        // The walk alone (no tagged ids: their lookup reads none), the plan before IndexedTagFilter.
        const old = () =>
          client.query(contactListStatement(org, filter, 'name', 50, undefined, -1));
        for (let i = 0; i < 5; i++) {
          await list();
          await old();
        }
        if (PLANS) {
          const { text, values } = contactListStatement(org, filter, 'name', 50, undefined);
          const plan = await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) ${text}`,
            values,
          );
          console.log(plan.rows.map((r) => `   ${r['QUERY PLAN']}`).join('\n'));
        }
        for (let i = 0; i < SAMPLES; i++) {
          now.push(await timed(async () => (listed = (await list()).items.length)));
          before.push(await timed(old));
        }
      });
      const a = latencySummary(now);
      const b = latencySummary(before);
      const carriers = `on ${fmt(counts.get(tag) ?? 0)}`;
      line([
        `${tag} (${carriers}), ${listed} listed`,
        ms(a),
        ms(b),
        `${fmt(a.p99 / b.p99, 2)}x`,
        '',
      ]);
      figures[tag] = {
        carriers: counts.get(tag) ?? 0,
        p50: a.p50,
        p99: a.p99,
        beforeP50: b.p50,
        beforeP99: b.p99,
      };
    }

    // The projection's side: the same 500-row upserts with contact_tags' triggers on and off,
    // alternating batch by batch, each rolled back: new contacts, contacts whose tags all change
    // (a tag edit, a merge), and contacts changed elsewhere (the usual PATCH).
    const writer = randomUUID();
    const seeded = WRITE_BATCHES * BATCH * 2;
    await seed(app, writer, seeded);
    console.log('');
    const cases: [string, string, (n: number, b: number) => object][] = [
      [
        'inserted',
        'new contacts, 3 tags',
        (n) => row(seeded + n, seeded, 1, ['all', `t${n % 40}`, `u${n % 13}`]),
      ],
      [
        'retagged',
        'tags changed (3 new)',
        (n, b) => row(n, seeded, 1, ['all', `batch-${b % 7}`, 'edited']),
      ],
      ['untagged', 'tags unchanged', (n) => ({ ...row(n, seeded, 1), first_name: 'Renamed' })],
    ];
    for (const [key, label, make] of cases) {
      const on: number[] = [];
      const off: number[] = [];
      for (let b = 0; b < WRITE_BATCHES * 2; b++) {
        const triggers = b % 2 === 0;
        const rows = Array.from({ length: BATCH }, (_, i) => make(b * BATCH + i, b));
        const client = await superuser.connect();
        try {
          await client.query('BEGIN');
          if (!triggers) await client.query('ALTER TABLE contacts DISABLE TRIGGER USER');
          await client.query(`SELECT set_config('app.org_id', $1, true)`, [writer]);
          (triggers ? on : off).push(await timed(() => upsert(client, writer, rows)));
          await client.query('ROLLBACK');
        } finally {
          client.release();
        }
      }
      const onL = latencySummary(on);
      const offL = latencySummary(off);
      line([
        `upsert of ${BATCH}: ${label}`,
        `${fmt(onL.p50, 1)} ms with triggers`,
        `${fmt(offL.p50, 1)} ms without`,
        `${fmt(onL.p50 / offL.p50, 2)}x`,
        `+${fmt(((onL.p50 - offL.p50) * 1000) / BATCH, 1)} µs a row (medians of ${on.length})`,
      ]);
      figures[key] = { withMs: onL.p50, withoutMs: offL.p50 };
    }
    console.log(`\nfigures ${JSON.stringify(figures)}`);
  } finally {
    await app.end();
    await superuser.end();
    await db.close();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
