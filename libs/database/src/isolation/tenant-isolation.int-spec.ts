import { randomUUID } from 'node:crypto';
import { Client, type ClientBase, type Pool } from 'pg';
import { asSignedInUser, withOrganisation } from '../organisation-scope';
import { createPool } from '../pool';
import { APP_GROUP_ROLE, APP_LOGIN_ROLE } from '../provision';
import {
  TEST_ENV_VARIABLE,
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from '../testing/test-database';
import {
  findIsolationViolations,
  listRowSecuredTables,
  listTenantRelations,
  type IsolationRules,
  type IsolationViolation,
} from './tenant-isolation';
import { TENANT_ROWS, tenantRowContext } from './testing/tenant-rows';

const RULES: IsolationRules = {
  applicationRoles: [APP_GROUP_ROLE, APP_LOGIN_ROLE],
  // The one deliberate exception, for now. The projector and `verify` read the log across
  // organisations, so the log is not under row-level security; what keeps an organisation's
  // events its own is the organisation inside every stream name, checked in SQL on every append
  // (YB003), and the application may only INSERT and SELECT. Taking RLS onto the log means taking
  // these off this list: the check fails while they are listed and under RLS, or no longer exist.
  exemptFromRowSecurity: {
    events: 'read across organisations by the projector and verify',
    streams: 'stream heads, kept by the append functions; read with the log',
  },
  // Before an organisation is chosen: a user whose password has just been checked lists their own
  // memberships and the organisations they belong to (asSignedInUser).
  widerReadPolicies: {
    'memberships.memberships_own': 'a signed-in user reads their own memberships',
    'organisations.organisations_member': 'a signed-in user reads the organisations they belong to',
  },
  appendOnly: ['events', 'request_log', 'request_log_unattributed'],
};

const IDENTITY_TABLES = [
  'api_key_usage',
  'api_keys',
  'memberships',
  'organisations',
  'refresh_tokens',
  'request_log',
  'sessions',
];

const ORG_A = randomUUID();
const ORG_B = randomUUID();

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await seedOrganisation(db.app, ORG_A);
  await seedOrganisation(db.app, ORG_B);
});
afterAll(() => db.drop());

/** One row in every table under row-level security, written as the application would. */
async function seedOrganisation(pool: Pool, orgId: string, userId?: string): Promise<void> {
  const context = tenantRowContext(orgId, userId);
  await withOrganisation(pool, orgId, async (client) => {
    for (const row of Object.values(TENANT_ROWS)) {
      const { sql, params } = row(context);
      await client.query(sql, params);
    }
  });
}

async function rolledBack<T>(client: ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    return await work();
  } finally {
    await client.query('ROLLBACK');
  }
}

async function asOwner<T>(work: (client: ClientBase) => Promise<T>): Promise<T> {
  const client = await db.owner.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

/** A superuser on this test database, for what only a superuser can get wrong (roles, owners). */
async function asSuperuser<T>(work: (client: ClientBase) => Promise<T>): Promise<T> {
  const env = JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;
  const url = new URL(env.superuserUrl);
  url.pathname = `/${db.name}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function problemsOf(violations: IsolationViolation[], subject: string): string[] {
  return violations.filter((v) => v.subject === subject).map((v) => v.problem);
}

/** Every table under row-level security, with its organisation column. */
async function tenantColumns(): Promise<{ name: string; column: string }[]> {
  const relations = await asOwner((client) => listTenantRelations(client, RULES.applicationRoles));
  return relations
    .filter((r) => !(r.name in RULES.exemptFromRowSecurity))
    .map((r) => ({ name: r.name, column: r.organisationColumn }));
}

describe('the catalogue', () => {
  it('puts every table with an organisation column under forced row-level security', async () => {
    const violations = await asOwner((client) => findIsolationViolations(client, RULES));
    expect(violations).toEqual([]);
    // The check is only as good as what it finds: the identity tables and the log, at least.
    const found = await asOwner((client) => listTenantRelations(client, RULES.applicationRoles));
    expect(found.map((r) => r.name)).toEqual(
      expect.arrayContaining([...IDENTITY_TABLES, 'events', 'streams']),
    );
  });

  it('flags a new tenant table without row-level security, and accepts one with it', async () => {
    const violations = await asOwner((client) =>
      rolledBack(client, async () => {
        await client.query(`CREATE TABLE isolation_probe (org_id uuid NOT NULL, note text)`);
        await client.query(`GRANT SELECT, INSERT ON isolation_probe TO ${APP_GROUP_ROLE}`);
        await client.query(`CREATE TABLE isolation_probe_ok (org_id uuid NOT NULL, note text)`);
        await client.query(`ALTER TABLE isolation_probe_ok ENABLE ROW LEVEL SECURITY`);
        await client.query(`ALTER TABLE isolation_probe_ok FORCE ROW LEVEL SECURITY`);
        await client.query(
          `CREATE POLICY isolation_probe_ok_organisation ON isolation_probe_ok USING (org_id = app_org_id())`,
        );
        return findIsolationViolations(client, RULES);
      }),
    );
    expect(violations).toEqual([
      { subject: 'isolation_probe', problem: 'does not have row-level security enabled' },
      { subject: 'isolation_probe', problem: 'does not have row-level security forced' },
      {
        subject: 'isolation_probe',
        problem: 'has no policy for all commands admitting only org_id = app_org_id()',
      },
    ]);
  });

  it('flags unforced RLS, policies that admit more, unsecured partitions and materialized views', async () => {
    const violations = await asOwner((client) =>
      rolledBack(client, async () => {
        const q = (sql: string) => client.query(sql);
        await q(`CREATE TABLE probe_unforced (organisation_id uuid)`);
        await q(`ALTER TABLE probe_unforced ENABLE ROW LEVEL SECURITY`);
        await q(
          `CREATE POLICY by_organisation ON probe_unforced USING (organisation_id = app_org_id())`,
        );
        // Names both org_id and app_org_id(), and admits everything.
        await q(`CREATE TABLE probe_or (org_id uuid)`);
        await q(`ALTER TABLE probe_or ENABLE ROW LEVEL SECURITY`);
        await q(`ALTER TABLE probe_or FORCE ROW LEVEL SECURITY`);
        await q(`CREATE POLICY sloppy ON probe_or USING (org_id = app_org_id() OR true)`);
        // A partition is read on its own policies, not its parent's.
        await q(`CREATE TABLE probe_parted (org_id uuid) PARTITION BY LIST (org_id)`);
        await q(`ALTER TABLE probe_parted ENABLE ROW LEVEL SECURITY`);
        await q(`ALTER TABLE probe_parted FORCE ROW LEVEL SECURITY`);
        await q(`CREATE POLICY probe_parted_org ON probe_parted USING (org_id = app_org_id())`);
        await q(`CREATE TABLE probe_part PARTITION OF probe_parted DEFAULT`);
        await q(`CREATE MATERIALIZED VIEW probe_view AS SELECT org_id, stream_id FROM streams`);
        await q(`GRANT SELECT ON probe_view TO ${APP_GROUP_ROLE}`);
        // Permissive policies add up: one more on an existing table widens it.
        await q(`CREATE POLICY peek ON api_keys FOR SELECT USING (true)`);
        // The sign-in policy may only read.
        await q(`DROP POLICY memberships_own ON memberships`);
        await q(`CREATE POLICY memberships_own ON memberships USING (user_id = app_user_id())`);
        return findIsolationViolations(client, RULES);
      }),
    );
    expect(problemsOf(violations, 'probe_unforced')).toEqual([
      'does not have row-level security forced',
    ]);
    expect(problemsOf(violations, 'probe_or')).toEqual([
      'has no policy for all commands admitting only org_id = app_org_id()',
      'policy sloppy admits rows beyond org_id = app_org_id()',
    ]);
    expect(problemsOf(violations, 'probe_parted')).toEqual([]);
    expect(problemsOf(violations, 'probe_part')).toEqual([
      'does not have row-level security enabled',
      'does not have row-level security forced',
      'has no policy for all commands admitting only org_id = app_org_id()',
    ]);
    expect(problemsOf(violations, 'probe_view')).toEqual([
      'cannot have row-level security but the application may read it',
    ]);
    expect(problemsOf(violations, 'api_keys')).toEqual([
      'policy peek admits rows beyond org_id = app_org_id()',
    ]);
    expect(problemsOf(violations, 'memberships')).toEqual([
      'policy memberships_own is a wider read policy but applies to more than SELECT',
    ]);
  });

  it('flags privileges that escape row-level security or break append-only', async () => {
    const violations = await asOwner((client) =>
      rolledBack(client, async () => {
        await client.query(`GRANT TRUNCATE ON memberships TO ${APP_GROUP_ROLE}`);
        await client.query(`GRANT TRIGGER ON sessions TO ${APP_LOGIN_ROLE}`);
        await client.query(`GRANT UPDATE (status) ON request_log TO ${APP_GROUP_ROLE}`);
        await client.query(`GRANT DELETE ON request_log_unattributed TO ${APP_LOGIN_ROLE}`);
        await client.query(`GRANT UPDATE ON events TO ${APP_GROUP_ROLE}`);
        return findIsolationViolations(client, RULES);
      }),
    );
    expect(violations).toEqual(
      expect.arrayContaining([
        {
          subject: 'memberships',
          problem: 'grants TRUNCATE to the application, which row-level security does not cover',
        },
        {
          subject: 'sessions',
          problem: 'grants TRIGGER to the application, which row-level security does not cover',
        },
        { subject: 'request_log', problem: 'is append-only but the application has UPDATE' },
        {
          subject: 'request_log_unattributed',
          problem: 'is append-only but the application has DELETE',
        },
        { subject: 'events', problem: 'is append-only but the application has UPDATE' },
      ]),
    );
    expect(violations).toHaveLength(5);
  });

  it('flags exemptions and lists that have gone stale, and tables they leave out', async () => {
    const stale = await asOwner((client) =>
      findIsolationViolations(client, {
        ...RULES,
        exemptFromRowSecurity: { streams: 'heads', gone_table: 'was here once' },
        widerReadPolicies: { ...RULES.widerReadPolicies, 'memberships.gone': 'was here once' },
        appendOnly: [...RULES.appendOnly, 'gone_log'],
      }),
    );
    expect(stale).toEqual(
      expect.arrayContaining([
        {
          subject: 'gone_table',
          problem: 'is exempt from row-level security but no longer exists',
        },
        {
          subject: 'memberships.gone',
          problem: 'is listed as a wider read policy but no longer exists',
        },
        { subject: 'gone_log', problem: 'is listed as append-only but does not exist' },
        { subject: 'events', problem: 'does not have row-level security enabled' },
      ]),
    );
    const secured = await asOwner((client) =>
      rolledBack(client, async () => {
        await client.query(`ALTER TABLE streams ENABLE ROW LEVEL SECURITY`);
        return findIsolationViolations(client, RULES);
      }),
    );
    expect(secured).toEqual([
      {
        subject: 'streams',
        problem: 'is under row-level security now: take it off the exemption list',
      },
    ]);
  });

  it('flags an application role that owns a tenant table, bypasses RLS or is a superuser', async () => {
    const role = `probe_super_${randomUUID().slice(0, 8)}`;
    const violations = await asSuperuser((client) =>
      rolledBack(client, async () => {
        await client.query(`ALTER TABLE api_keys OWNER TO ${APP_GROUP_ROLE}`);
        await client.query(`ALTER ROLE ${APP_LOGIN_ROLE} BYPASSRLS`);
        await client.query(`CREATE ROLE ${role} NOLOGIN SUPERUSER`);
        await client.query(`GRANT ${role} TO ${APP_GROUP_ROLE}`);
        return findIsolationViolations(client, RULES);
      }),
    );
    expect(violations).toEqual(
      expect.arrayContaining([
        {
          subject: 'api_keys',
          problem: `is owned by ${APP_GROUP_ROLE}, a role the application can act as`,
        },
        { subject: `role ${APP_LOGIN_ROLE}`, problem: 'has BYPASSRLS' },
        {
          subject: `role ${APP_GROUP_ROLE}`,
          problem: `is a superuser through membership of ${role}`,
        },
        {
          subject: `role ${APP_LOGIN_ROLE}`,
          problem: `is a superuser through membership of ${role}`,
        },
        // An owner holds every privilege, these two included.
        {
          subject: 'api_keys',
          problem: 'grants TRUNCATE to the application, which row-level security does not cover',
        },
        {
          subject: 'api_keys',
          problem: 'grants TRIGGER to the application, which row-level security does not cover',
        },
      ]),
    );
    expect(violations).toHaveLength(6);
  });
});

describe('with no organisation set', () => {
  it('has a test row for every table under row-level security', async () => {
    const secured = await asOwner((client) => listRowSecuredTables(client, RULES));
    expect(Object.keys(TENANT_ROWS).sort()).toEqual(secured.sort());
  });

  it('each organisation sees its own rows and no other (the rows the next tests hide exist)', async () => {
    for (const orgId of [ORG_A, ORG_B]) {
      for (const { name, column } of await tenantColumns()) {
        const { rows } = await withOrganisation(db.app, orgId, (client) =>
          client.query<{ org: string }>(`SELECT ${column} AS org FROM ${name}`),
        );
        expect({ name, orgs: [...new Set(rows.map((r) => r.org))] }).toEqual({
          name,
          orgs: [orgId],
        });
      }
    }
  });

  it('shows the application role and the owner no row of any tenant table', async () => {
    for (const { name } of await tenantColumns()) {
      for (const pool of [db.app, db.owner]) {
        const plain = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`);
        expect({ name, n: plain.rows[0].n }).toEqual({ name, n: 0 });
      }
      // Set and reset in the session reads as '' rather than NULL: still nobody.
      const client = await db.app.connect();
      try {
        const emptied = await rolledBack(client, async () => {
          await client.query(`SELECT set_config('app.org_id', '', true)`);
          return client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`);
        });
        expect({ name, n: emptied.rows[0].n }).toEqual({ name, n: 0 });
      } finally {
        client.release();
      }
    }
  });

  it('lets the application role insert into no tenant table, nor into another organisation', async () => {
    for (const [name, row] of Object.entries(TENANT_ROWS)) {
      const { sql, params } = row(tenantRowContext(ORG_A));
      const refusal = {
        code: '42501',
        message: expect.stringMatching(
          `new row violates row-level security policy for table "${name}"`,
        ) as unknown,
      };
      await expect(db.app.query(sql, params)).rejects.toMatchObject(refusal);
      await expect(db.owner.query(sql, params)).rejects.toMatchObject(refusal);
      await expect(
        withOrganisation(db.app, ORG_B, (client) => client.query(sql, params)),
      ).rejects.toMatchObject(refusal);
    }
  });

  it('lets the application role update or delete no row', async () => {
    const before = await countRows();
    for (const { name, column } of await tenantColumns()) {
      const { rows: columns } = await db.owner.query<{ name: string }>(
        `SELECT attname AS name FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
            AND attgenerated = '' -- a generated column is set by no one
            AND has_column_privilege($2, attrelid, attnum, 'UPDATE')`,
        [name, APP_LOGIN_ROLE],
      );
      for (const { name: updatable } of columns) {
        const update = `UPDATE ${name} SET ${updatable} = ${updatable}`;
        expect({ update, n: (await db.app.query(update)).rowCount }).toEqual({ update, n: 0 });
        // From inside one organisation, another's rows are out of reach too.
        const across = await withOrganisation(db.app, ORG_A, (client) =>
          client.query(`${update} WHERE ${column} = $1`, [ORG_B]),
        );
        expect({ update, n: across.rowCount }).toEqual({ update, n: 0 });
      }
      if (columns.some((c) => c.name === column)) {
        // Moving a row to another organisation fails the policy's check.
        await expect(
          withOrganisation(db.app, ORG_A, (client) =>
            client.query(`UPDATE ${name} SET ${column} = $1`, [ORG_B]),
          ),
        ).rejects.toMatchObject({ code: '42501' });
      }
      const { rows: deletable } = await db.owner.query<{ yes: boolean }>(
        `SELECT has_table_privilege($2, $1::regclass, 'DELETE') AS yes`,
        [name, APP_LOGIN_ROLE],
      );
      if (deletable[0].yes) {
        expect({ name, n: (await db.app.query(`DELETE FROM ${name}`)).rowCount }).toEqual({
          name,
          n: 0,
        });
      }
    }
    expect(await countRows()).toEqual(before);
  });
});

/** Rows per organisation and table, as each organisation sees them. */
async function countRows(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const orgId of [ORG_A, ORG_B]) {
    for (const { name } of await tenantColumns()) {
      const { rows } = await withOrganisation(db.app, orgId, (client) =>
        client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`),
      );
      counts[`${orgId}:${name}`] = rows[0].n;
    }
  }
  return counts;
}

describe('withOrganisation', () => {
  // One connection, so "the next checkout" is the very connection the transaction used.
  let single: Pool;
  beforeAll(() => {
    single = createPool(db.appUrl, { applicationName: 'isolation-single', max: 1 });
  });
  afterAll(() => single.end());

  /** The next checkout's connection and its settings, NULL (never set) read as '' (unset). */
  async function nextCheckout(): Promise<{ pid: number; org: string; user: string }> {
    const { rows } = await single.query<{ pid: number; org: string; user: string }>(
      `SELECT pg_backend_pid() AS pid, coalesce(current_setting('app.org_id', true), '') AS org,
              coalesce(current_setting('app.user_id', true), '') AS user`,
    );
    return rows[0];
  }
  const unset = (pid: number) => ({ pid, org: '', user: '' });

  async function loggedRequest(orgId: string, requestId: string): Promise<boolean> {
    const { rows } = await withOrganisation(db.app, orgId, (client) =>
      client.query(`SELECT 1 FROM request_log WHERE request_id = $1`, [requestId]),
    );
    return rows.length > 0;
  }
  const logRequest = (client: ClientBase, orgId: string, requestId: string) =>
    client.query(
      `INSERT INTO request_log (org_id, at, request_id, method, status, latency_ms)
       VALUES ($1, now(), $2, 'GET', 200, 1)`,
      [orgId, requestId],
    );

  it('refuses an id that is not a lower-case UUID before it touches a connection', async () => {
    const fresh = createPool(db.appUrl, { applicationName: 'isolation-fresh', max: 1 });
    try {
      for (const bad of [
        '',
        'not-a-uuid',
        ORG_A.toUpperCase(),
        `${ORG_A}'); SELECT set_config('app.org_id', '${ORG_B}', false); --`,
      ]) {
        await expect(withOrganisation(fresh, bad, () => Promise.resolve())).rejects.toThrow(
          /lower-case UUID/,
        );
        await expect(asSignedInUser(fresh, bad, () => Promise.resolve())).rejects.toThrow(
          /lower-case UUID/,
        );
      }
      expect(fresh.totalCount).toBe(0);
    } finally {
      await fresh.end();
    }
  });

  it.each([
    ['SET app.org_id', `SET app.org_id = '${ORG_B}'`],
    ['set_config for the session', `SELECT set_config('app.org_id', '${ORG_B}', false)`],
    ['SET app.user_id', `SET app.user_id = '${randomUUID()}'`],
    ['SET LOCAL app.org_id', `SET LOCAL app.org_id = '${ORG_B}'`],
  ])('refuses a transaction whose scope changed (%s) and keeps none of it', async (_, change) => {
    const requestId = `scope-change-${randomUUID()}`;
    let pid = 0;
    await expect(
      withOrganisation(single, ORG_A, async (client) => {
        pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await logRequest(client, ORG_A, requestId);
        await client.query(change);
      }),
    ).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/was changed inside/) as unknown,
    });
    expect(await nextCheckout()).toEqual(unset(pid));
    expect(await loggedRequest(ORG_A, requestId)).toBe(false);
  });

  it('commits a session-level SET of the same organisation without letting it outlive COMMIT', async () => {
    const requestId = `same-scope-${randomUUID()}`;
    const pid = await withOrganisation(single, ORG_A, async (client) => {
      await client.query(`SET app.org_id = '${ORG_A}'`);
      await logRequest(client, ORG_A, requestId);
      return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    });
    expect(await nextCheckout()).toEqual(unset(pid));
    expect(await loggedRequest(ORG_A, requestId)).toBe(true);
  });

  it('leaves nothing set after COMMIT, ROLLBACK or a failed COMMIT', async () => {
    const pidOf = async (client: ClientBase) =>
      (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

    const committed = await withOrganisation(single, ORG_A, pidOf);
    expect(await nextCheckout()).toEqual(unset(committed));
    const signedIn = await asSignedInUser(single, randomUUID(), pidOf);
    expect(await nextCheckout()).toEqual(unset(signedIn));

    let rolledBackPid = 0;
    await expect(
      withOrganisation(single, ORG_B, async (client) => {
        rolledBackPid = await pidOf(client);
        throw new Error('injected');
      }),
    ).rejects.toThrow('injected');
    expect(await nextCheckout()).toEqual(unset(rolledBackPid));

    // A deferred constraint fails at COMMIT itself.
    let failedCommitPid = 0;
    const requestId = `failed-commit-${randomUUID()}`;
    await expect(
      withOrganisation(single, ORG_B, async (client) => {
        failedCommitPid = await pidOf(client);
        await logRequest(client, ORG_B, requestId);
        await client.query(`CREATE TEMP TABLE commit_fails (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)
                            ON COMMIT DROP; INSERT INTO commit_fails VALUES (1), (1)`);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await nextCheckout()).toEqual(unset(failedCommitPid));
    expect(await loggedRequest(ORG_B, requestId)).toBe(false);
  });

  it('reports a transaction left aborted by a caught error instead of calling it committed', async () => {
    const requestId = `swallowed-${randomUUID()}`;
    await expect(
      withOrganisation(single, ORG_A, async (client) => {
        await logRequest(client, ORG_A, requestId);
        await client.query('SELECT 1/0').catch(() => undefined);
        return 'done';
      }),
    ).rejects.toMatchObject({ code: '25P02' });
    expect(await loggedRequest(ORG_A, requestId)).toBe(false);
  });

  it('refuses work that ends the transaction itself', async () => {
    await expect(
      withOrganisation(single, ORG_A, async (client) => {
        await client.query('COMMIT');
        await client.query('SELECT 1');
      }),
    ).rejects.toMatchObject({ code: '42501' });
    const { org, user } = await nextCheckout();
    expect({ org, user }).toEqual({ org: '', user: '' });
  });
});

describe('2,000 operations for two organisations over a pool of 2 connections', () => {
  const OPERATIONS = 2_000;
  const IN_FLIGHT = 16;

  type Kind = 'ok' | 'throw' | 'sql-error' | 'timeout' | 'failed-commit' | 'set-other' | 'set-same';
  // What each kind must end in: committed, or refused with this error.
  const EXPECTED: Record<Kind, string> = {
    ok: 'committed',
    'set-same': 'committed',
    throw: 'injected',
    'sql-error': '22012',
    timeout: '57014',
    'failed-commit': '23505',
    'set-other': '42501',
  };
  function kindOf(i: number): Kind {
    if (i % 97 === 13) return 'timeout';
    if (i % 89 === 7) return 'failed-commit';
    if (i % 101 === 50) return 'set-other';
    if (i % 103 === 51) return 'set-same';
    if (i % 11 === 5) return 'sql-error';
    if (i % 7 === 3) return 'throw';
    return 'ok';
  }

  it('never shows a row of the other organisation, keeps nothing of a failed one, leaks no setting', async () => {
    const pool = createPool(db.appUrl, { applicationName: 'isolation-interleaved', max: 2 });
    // Every table under row-level security, in one round trip: own and other organisations' rows.
    const tables = await tenantColumns();
    const visibility = tables
      .map(
        ({ name, column }) =>
          `SELECT '${name}' AS name, pg_backend_pid() AS pid,
                  count(*) FILTER (WHERE ${column} = $1)::int AS own,
                  count(*) FILTER (WHERE ${column} IS DISTINCT FROM $1)::int AS other
             FROM ${name}`,
      )
      .join(' UNION ALL ');
    const problems: string[] = [];
    const outcomes = new Map<Kind, Set<string>>();
    const committed = new Map<string, string[]>([
      [ORG_A, []],
      [ORG_B, []],
    ]);
    const pids = new Set<number>();

    async function operation(i: number): Promise<void> {
      const orgId = i % 2 === 0 ? ORG_A : ORG_B;
      const otherOrgId = orgId === ORG_A ? ORG_B : ORG_A;
      const requestId = `op-${i}`;
      const kind = kindOf(i);
      let outcome: string;
      try {
        await withOrganisation(pool, orgId, async (client) => {
          const { rows } = await client.query<{
            name: string;
            pid: number;
            own: number;
            other: number;
          }>(visibility, [orgId]);
          for (const row of rows) {
            pids.add(row.pid);
            if (row.other !== 0 || row.own === 0)
              problems.push(`${requestId} saw ${JSON.stringify(row)}`);
          }
          await client.query(
            `INSERT INTO request_log (org_id, at, request_id, method, status, latency_ms)
             VALUES ($1, now(), $2, 'GET', 200, 1)`,
            [orgId, requestId],
          );
          switch (kind) {
            case 'throw':
              throw new Error('injected');
            case 'sql-error':
              await client.query('SELECT 1/0');
              break;
            case 'timeout':
              await client.query(`SET LOCAL statement_timeout = '10ms'`);
              await client.query('SELECT pg_sleep(1)');
              break;
            case 'failed-commit':
              await client.query(`CREATE TEMP TABLE commit_fails (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)
                                  ON COMMIT DROP; INSERT INTO commit_fails VALUES (1), (1)`);
              break;
            case 'set-other':
              await client.query(`SET app.org_id = '${otherOrgId}'`);
              break;
            case 'set-same':
              await client.query(`SET app.org_id = '${orgId}'`);
              break;
            case 'ok':
              break;
          }
        });
        committed.get(orgId)?.push(requestId);
        outcome = 'committed';
      } catch (error) {
        const { code, message } = error as { code?: string; message?: string };
        outcome = code ?? message ?? String(error);
      }
      outcomes.set(kind, (outcomes.get(kind) ?? new Set()).add(outcome));
      // Whichever connection comes next carries no organisation and shows nothing.
      const { rows } = await pool.query<{ org: string; user: string; visible: number }>(
        `SELECT coalesce(current_setting('app.org_id', true), '') AS org,
                coalesce(current_setting('app.user_id', true), '') AS user,
                (SELECT count(*) FROM memberships)::int + (SELECT count(*) FROM request_log)::int AS visible`,
      );
      if (rows[0].org !== '' || rows[0].user !== '' || rows[0].visible !== 0) {
        problems.push(`after ${requestId}: ${JSON.stringify(rows[0])}`);
      }
    }

    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < OPERATIONS) await operation(next++);
        }),
      );
    } finally {
      await pool.end();
    }

    expect(problems).toEqual([]);
    expect(Object.fromEntries([...outcomes].map(([kind, seen]) => [kind, [...seen]]))).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([kind, outcome]) => [kind, [outcome]])),
    );
    expect(pids.size).toBe(2);
    // Exactly the operations that committed left their record, each in its own organisation.
    for (const [orgId, requestIds] of committed) {
      const { rows } = await withOrganisation(db.app, orgId, (client) =>
        client.query<{ request_id: string }>(
          `SELECT request_id FROM request_log WHERE request_id LIKE 'op-%'`,
        ),
      );
      expect(rows.map((r) => r.request_id).sort()).toEqual([...requestIds].sort());
    }
  });
});

describe('a signed-in user before choosing an organisation (app.user_id)', () => {
  const [orgC, orgD, orgE] = [randomUUID(), randomUUID(), randomUUID()];
  const [userU, userV] = [randomUUID(), randomUUID()];

  beforeAll(async () => {
    // Each organisation has rows of its own in every table; U belongs to C and D, V to C and E.
    for (const orgId of [orgC, orgD, orgE]) await seedOrganisation(db.app, orgId);
    for (const [orgId, userId] of [
      [orgC, userU],
      [orgD, userU],
      [orgC, userV],
      [orgE, userV],
    ]) {
      const { sql, params } = TENANT_ROWS.memberships(tenantRowContext(orgId, userId));
      await withOrganisation(db.app, orgId, (client) => client.query(sql, params));
    }
  });

  const sorted = (values: string[]) => [...values].sort();

  it('sees their own memberships across organisations and those organisations, nothing else', async () => {
    for (const [userId, orgs] of [
      [userU, [orgC, orgD]],
      [userV, [orgC, orgE]],
      [randomUUID(), []],
    ] as const) {
      await asSignedInUser(db.app, userId, async (client) => {
        const memberships = await client.query<{ org_id: string; user_id: string }>(
          'SELECT org_id, user_id FROM memberships',
        );
        expect(memberships.rows.map((r) => r.user_id)).toEqual(orgs.map(() => userId));
        expect(sorted(memberships.rows.map((r) => r.org_id))).toEqual(sorted([...orgs]));
        const organisations = await client.query<{ org_id: string }>(
          'SELECT org_id FROM organisations',
        );
        expect(sorted(organisations.rows.map((r) => r.org_id))).toEqual(sorted([...orgs]));
        for (const { name } of await tenantColumns()) {
          if (name === 'memberships' || name === 'organisations') continue;
          const { rows } = await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${name}`,
          );
          expect({ name, n: rows[0].n }).toEqual({ name, n: 0 });
        }
      });
    }
  });

  it('can write nothing, not even their own membership', async () => {
    const snapshot = () =>
      withOrganisation(db.app, orgC, async (client) => ({
        memberships: (await client.query('SELECT * FROM memberships ORDER BY user_id')).rows,
        organisations: (await client.query('SELECT * FROM organisations')).rows,
      }));
    const before = await snapshot();
    for (const [name, row] of Object.entries(TENANT_ROWS)) {
      const { sql, params } = row(tenantRowContext(orgC, userU));
      await expect(
        asSignedInUser(db.app, userU, (client) => client.query(sql, params)),
      ).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining(`for table "${name}"`) as unknown,
      });
    }
    for (const write of [
      `UPDATE memberships SET role = 'viewer' WHERE user_id = '${userU}'`,
      `UPDATE memberships SET name = 'Renamed'`,
      `DELETE FROM memberships WHERE user_id = '${userU}'`,
      `UPDATE organisations SET name = 'Renamed'`,
      `DELETE FROM organisations`,
    ]) {
      const { rowCount } = await asSignedInUser(db.app, userU, (client) => client.query(write));
      expect({ write, rowCount }).toEqual({ write, rowCount: 0 });
    }
    expect(await snapshot()).toEqual(before);
  });
});
