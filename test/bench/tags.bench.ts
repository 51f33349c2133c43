/* Benchmark of the contact list's tag filter. Run: npm run bench:tags (under flock /tmp/beecastle-bench.lock)
 *
 * One large organisation (BENCH_TAG_CONTACTS contacts, 200,000 by default) beside a crowd of other
 * organisations' contacts (BENCH_TAG_CROWD), written straight into the read model as the
 * projection writes it. Then, for tags on a handful to all of its contacts, the first page
 * (limit 50, by name) as the API reads it (`tags @>`, which the GIN index contacts_tags answers
 * under row-level security since provisioning declares arraycontains LEAKPROOF), beside the same
 * statement with bitmap scans off (the plan the list had before: a walk of the organisation's sort
 * index, `@>` filtering its rows), alternating sample by sample, as the application role under
 * row-level security over TLS. */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Pool, PoolClient } from 'pg';
import { Pool as PgPool } from 'pg';
import {
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
// BENCH_PLANS=1 prints each list's plan as it ran (EXPLAIN ANALYZE), for diagnosis.
const PLANS = process.env.BENCH_PLANS === '1';

/** The tags of contact n of `total`: from a handful of its contacts to all of them. */
function tagsOf(n: number, total: number): string[] {
  const tags = ['all'];
  if (n % Math.max(1, Math.floor(total / 20)) === 5) tags.push('twenty');
  if (n % 1000 === 7) tags.push('tenth-percent');
  if (n % 100 === 3) tags.push('one-percent');
  if (n % 10 === 1) tags.push('ten-percent');
  return tags;
}

const COLUMNS = `contact_id text, revision bigint, first_name text, last_name text, tags text[],
  name_key text, search_text text, created_at timestamptz, updated_at timestamptz,
  created_by text, updated_by text`;

/** Rows into the read model in one statement, as the projection writes a batch. */
function insert(client: PoolClient, org: string, rows: readonly object[]) {
  return client.query(
    `INSERT INTO contacts (org_id, contact_id, revision, first_name, last_name, tags, name_key,
                           search_text, created_at, updated_at, created_by, updated_by)
     SELECT $1::uuid, r.* FROM jsonb_to_recordset($2::jsonb) AS r(${COLUMNS})`,
    [org, JSON.stringify(rows)],
  );
}

function row(n: number, total: number) {
  const name = `name ${String((n * 7919) % total).padStart(7, '0')}`;
  return {
    contact_id: `c${n}`,
    revision: 0,
    first_name: 'Name',
    last_name: String(n),
    tags: tagsOf(n, total),
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
      row(start + i, total),
    );
    await withOrganisation(app, org, (client) => insert(client, org, rows));
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
    await superuser.query('VACUUM (ANALYZE) contacts');
    console.log(
      `connections: ${db.transport}; application role, row-level security forced; ${SAMPLES} samples each, alternating`,
    );
    console.log('');
    line(['first page (limit 50, by name)', 'list p50 / p99', 'before p50 / p99', 'p99 ratio', '']);

    const counts = await withOrganisation(app, org, async (client) => {
      const { rows } = await client.query<{ tag: string; n: number }>(
        `SELECT tag, count(*)::int AS n FROM contacts, unnest(tags) AS tag GROUP BY tag`,
      );
      return new Map(rows.map((r) => [r.tag, r.n]));
    });
    const tags = ['twenty', 'tenth-percent', 'one-percent', 'ten-percent', 'all', 'nobody'];
    const figures: Record<string, unknown> = {};
    for (const tag of tags) {
      const filter: ContactListFilter = { q: undefined, tag, company: undefined, archived: false };
      const now: number[] = [];
      const before: number[] = [];
      let listed = 0;
      await withOrganisation(app, org, async (client) => {
        const list = () => readContactList(client, org, filter, 'name', 50, undefined);
        // The list's plan before: the same statement with bitmap scans off, the only way to the
        // GIN index, so `@>` filters the rows of the sort index's walk as it did when it could not
        // be an index condition. Switched on and off around each sample, outside its time.
        const statement = contactListStatement(org, filter, 'name', 50, undefined);
        const bitmaps = (on: boolean) =>
          client.query(`SELECT set_config('enable_bitmapscan', $1, true)`, [on ? 'on' : 'off']);
        const old = async () => {
          await bitmaps(false);
          const took = await timed(() => client.query(statement));
          await bitmaps(true);
          return took;
        };
        for (let i = 0; i < 5; i++) {
          await list();
          await old();
        }
        if (PLANS) {
          const plan = await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) ${statement.text}`,
            statement.values,
          );
          console.log(plan.rows.map((r) => `   ${r['QUERY PLAN']}`).join('\n'));
        }
        for (let i = 0; i < SAMPLES; i++) {
          now.push(await timed(async () => (listed = (await list()).items.length)));
          before.push(await old());
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
