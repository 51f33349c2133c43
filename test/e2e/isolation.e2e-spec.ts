import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Role } from '../../libs/domain/src';
import { APP_POOL } from '../../apps/api/src/database/database.module';
import type { HttpsResponse } from './support/https-request';
import {
  client,
  createOrganisation,
  PASSWORD,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';

/**
 * Isolation as a client sees it: the real app over HTTPS on an application pool of two
 * connections, so that every connection serves both organisations over and over, in between
 * requests that fail half-way: refusals decided after the credential's organisation-scoped lookup
 * and the stream read (409, 404, 400), and a refresh whose transaction fails after its first
 * write under the organisation (a trigger the test installs). The database-level half
 * (catalogue, no organisation set) is libs/database/src/isolation/.
 */
const POOL_SIZE = 2;
const REQUESTS = 2_000;
const IN_FLIGHT = 16;
/** What the run mixes, in turn for each organisation (plus a write every 50th). */
const KINDS = [
  'users-as-owner',
  'keys-as-admin-key',
  'me-as-auditor',
  'audit',
  'last-owner',
  'users-as-admin-key',
  'member-exists',
  'me-as-admin-key',
  'other-organisation',
  'keys-as-admin',
  'malformed',
  'refresh-fails',
] as const;

interface Tenant {
  readonly label: 'Alpha' | 'Bravo';
  readonly organisationId: string;
  readonly owner: Caller;
  readonly admin: Caller;
  readonly viewer: Caller;
  readonly auditor: Caller;
  readonly adminKey: Caller;
  readonly auditorKey: Caller;
  /** A refresh token whose session's next token the test makes the database refuse. */
  readonly doomedRefreshToken: string;
  readonly doomedSessionId: string;
  /** Strings that belong to this organisation alone: its label, ids, emails. */
  readonly markers: readonly string[];
}

interface Listing<T> {
  readonly items: T[];
}
interface Member {
  id: string;
  email: string;
  name: string;
  role: Role;
  status: string;
}
interface Key {
  id: string;
  name: string;
  role: Role;
  revokedAt: string | null;
}

function claimsOf(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

describe('isolation over HTTP: two organisations on a pool of two connections', () => {
  const t = useLiveSystem({ env: { DATABASE_POOL_SIZE: String(POOL_SIZE) } });
  const http = () => client(t.api);
  let alpha: Tenant;
  let bravo: Tenant;

  /** Made through the product's own paths; every name and email says whose it is. */
  const tenantOf = async (label: Tenant['label']): Promise<Tenant> => {
    const slug = label.toLowerCase();
    const { organisationId, owner } = await createOrganisation(t.db, `${label} Org`);
    const ownerCaller = await http().signIn(owner, organisationId);
    const member = async (role: Role, name: string) => {
      const email = `${slug}-${role}-${randomUUID()}@${slug}.test`;
      const res = await http().send('POST', '/v1/users', ownerCaller, {
        email,
        name: `${label} ${name}`,
        role,
        password: PASSWORD,
      });
      if (res.status !== 201) throw new Error(`add ${label} ${role}: ${res.status} ${res.body}`);
      return { id: (res.json() as { id: string }).id, email };
    };
    const key = async (role: Role): Promise<Caller> => {
      const res = await http().send('POST', '/v1/api-keys', ownerCaller, {
        name: `${label} ${role} key`,
        role,
      });
      if (res.status !== 201) throw new Error(`issue ${label} key: ${res.status} ${res.body}`);
      const { id, key: secret } = res.json() as { id: string; key: string };
      return { id, email: '', authorization: `Bearer ${secret}` };
    };
    const admin = await http().signIn(await member('admin', 'Admin'), organisationId);
    const viewer = await http().signIn(await member('viewer', 'Viewer'), organisationId);
    const auditor = await http().signIn(await member('auditor', 'Auditor'), organisationId);
    const doomed = await member('editor', 'Doomed');
    const signedIn = await http().send('POST', '/v1/auth/token', undefined, {
      email: doomed.email,
      password: PASSWORD,
      organisationId,
    });
    const tokens = signedIn.json() as { accessToken: string; refreshToken: string };
    const adminKey = await key('admin');
    const auditorKey = await key('auditor');
    const people = [ownerCaller, admin, viewer, auditor, doomed];
    return {
      label,
      organisationId,
      owner: ownerCaller,
      admin,
      viewer,
      auditor,
      adminKey,
      auditorKey,
      doomedRefreshToken: tokens.refreshToken,
      doomedSessionId: claimsOf(tokens.accessToken).sid as string,
      markers: [
        label,
        slug,
        organisationId,
        ...people.flatMap((p) => [p.id, p.email]),
        adminKey.id,
        auditorKey.id,
      ],
    };
  };

  const otherThan = (tenant: Tenant) => (tenant === alpha ? bravo : alpha);

  /** The other organisation's strings in an answer, leaving out any the request itself named. */
  const leaks = (res: HttpsResponse, tenant: Tenant, sent: string): string[] =>
    otherThan(tenant).markers.filter((m) => res.body.includes(m) && !sent.includes(m));

  const eventCounts = async (): Promise<Record<string, number>> => {
    const { rows } = await t.db.owner.query<{ org_id: string; n: number }>(
      'SELECT org_id, count(*)::int AS n FROM events GROUP BY org_id',
    );
    return Object.fromEntries(rows.map((r) => [r.org_id, r.n]));
  };

  const listUsers = async (tenant: Tenant) => {
    const res = await http().send('GET', '/v1/users', tenant.owner);
    expect(res.status).toBe(200);
    return (res.json() as Listing<Member>).items;
  };
  const listKeys = async (tenant: Tenant) => {
    const res = await http().send('GET', '/v1/api-keys', tenant.owner);
    expect(res.status).toBe(200);
    return (res.json() as Listing<Key>).items;
  };

  beforeAll(async () => {
    alpha = await tenantOf('Alpha');
    bravo = await tenantOf('Bravo');
  });

  it('runs the API on the configured pool of two connections', () => {
    const pool = t.api.app.get<Pool>(APP_POOL);
    expect(pool.options.max).toBe(POOL_SIZE);
  });

  it('answers 2,000 interleaved requests, failures mid-transaction among them, each with its own organisation only', async () => {
    const before = {
      events: await eventCounts(),
      users: { Alpha: await listUsers(alpha), Bravo: await listUsers(bravo) },
      keys: { Alpha: await listKeys(alpha), Bravo: await listKeys(bravo) },
    };
    for (const tenant of [alpha, bravo]) {
      expect(before.users[tenant.label]).toHaveLength(5);
      expect(before.keys[tenant.label]).toHaveLength(2);
    }

    // A genuine failure inside an organisation-scoped transaction: refreshing the doomed sessions
    // spends the token (UPDATE, under the organisation's row-level security), then the insert of
    // its successor is refused. The message records the transaction's organisation and the row's.
    const doomed = `'{${alpha.doomedSessionId},${bravo.doomedSessionId}}'::uuid[]`;
    await t.db.owner.query(`
      CREATE FUNCTION isolation_test_refuse_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.session_id = ANY (${doomed}) THEN
          RAISE EXCEPTION 'injected failure: app.org_id=% row=%',
            current_setting('app.org_id', true), NEW.org_id;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER isolation_test_refuse_refresh BEFORE INSERT ON refresh_tokens
        FOR EACH ROW EXECUTE FUNCTION isolation_test_refuse_refresh();`);

    const problems: string[] = [];
    const outcomes = new Map<string, number>();
    const renamed: Record<Tenant['label'], Set<string>> = { Alpha: new Set(), Bravo: new Set() };
    const issued: Record<Tenant['label'], Key[]> = { Alpha: [], Bravo: [] };
    const pool = t.api.app.get<Pool>(APP_POOL);
    let mostWaiting = 0;
    let mostConnections = 0;

    const one = async (i: number): Promise<void> => {
      const tenant = i % 2 === 0 ? alpha : bravo;
      const other = otherThan(tenant);
      const k = Math.floor(i / 2);
      const kind = k % 50 === 24 ? 'rename' : k % 50 === 49 ? 'issue-key' : KINDS[k % KINDS.length];
      let method = 'GET';
      let path: string;
      let caller: { authorization: string } | undefined;
      let body: unknown;
      let raw: string | undefined;
      let expected: { status: number; code?: string };
      let check: ((res: HttpsResponse) => string | undefined) | undefined;

      const ownUsers = new Set(before.users[tenant.label].map((u) => u.id));
      const ownKeys = () =>
        new Set([...before.keys[tenant.label], ...issued[tenant.label]].map((key) => key.id));
      const onlyOwnMembers = (res: HttpsResponse) => {
        const items = (res.json() as Listing<Member>).items;
        const ids = items.map((u) => u.id).sort();
        return JSON.stringify(ids) === JSON.stringify([...ownUsers].sort())
          ? undefined
          : `members ${ids.join(',')}`;
      };
      const onlyOwnKeys = (res: HttpsResponse) => {
        const items = (res.json() as Listing<Key>).items;
        // A key issued by a request still in flight may be listed before its 201 arrives.
        const strays = items.filter(
          (key) => !ownKeys().has(key.id) && !key.name.startsWith(tenant.label),
        );
        return items.length >= 2 && strays.length === 0
          ? undefined
          : `keys ${JSON.stringify(items)}`;
      };
      const onlyOwnRequests = (res: HttpsResponse) => {
        const { items } = res.json() as Listing<{ userId: string | null; apiKeyId: string | null }>;
        const strays = items.filter(
          (r) =>
            (r.userId !== null && !ownUsers.has(r.userId)) ||
            (r.apiKeyId !== null && !ownKeys().has(r.apiKeyId)),
        );
        return strays.length === 0 ? undefined : `request log ${JSON.stringify(strays)}`;
      };
      const ownMe = (res: HttpsResponse) => {
        const me = res.json() as {
          user: { id: string };
          organisation: { id: string; name: string };
        };
        return me.organisation.id === tenant.organisationId &&
          me.organisation.name === `${tenant.label} Org` &&
          ownUsers.has(me.user.id)
          ? undefined
          : `me ${res.body}`;
      };

      switch (kind) {
        case 'rename': {
          const name = `${tenant.label} Viewer ${i}`;
          [method, path, caller, body] = [
            'PATCH',
            `/v1/users/${tenant.viewer.id}`,
            tenant.admin,
            { name },
          ];
          expected = { status: 200 };
          check = () => {
            renamed[tenant.label].add(name);
            return undefined;
          };
          break;
        }
        case 'issue-key':
          [method, path, caller] = ['POST', '/v1/api-keys', tenant.admin];
          body = { name: `${tenant.label} run key ${i}`, role: 'viewer' };
          expected = { status: 201 };
          check = (res) => {
            const { id } = res.json() as { id: string };
            issued[tenant.label].push({
              id,
              name: (body as Key).name,
              role: 'viewer',
              revokedAt: null,
            });
            return undefined;
          };
          break;
        case 'users-as-owner':
        case 'users-as-admin-key':
          [path, caller] = [
            '/v1/users',
            kind === 'users-as-owner' ? tenant.owner : tenant.adminKey,
          ];
          expected = { status: 200 };
          check = onlyOwnMembers;
          break;
        case 'keys-as-admin-key':
        case 'keys-as-admin':
          [path, caller] = [
            '/v1/api-keys',
            kind === 'keys-as-admin-key' ? tenant.adminKey : tenant.admin,
          ];
          expected = { status: 200 };
          check = onlyOwnKeys;
          break;
        case 'me-as-auditor':
        case 'me-as-admin-key':
          [path, caller] = ['/v1/me', kind === 'me-as-auditor' ? tenant.auditor : tenant.adminKey];
          expected = { status: 200 };
          check = ownMe;
          break;
        case 'audit':
          [path, caller] = ['/v1/audit/requests', k % 24 === 3 ? tenant.auditorKey : tenant.owner];
          expected = { status: 200 };
          check = onlyOwnRequests;
          break;
        case 'last-owner':
          // Read and folded the stream, then refused: the only owner may not step down.
          [method, path, caller, body] = [
            'PATCH',
            `/v1/users/${tenant.owner.id}`,
            tenant.owner,
            { role: 'viewer' },
          ];
          expected = { status: 409, code: 'LAST_OWNER' };
          break;
        case 'member-exists':
          [method, path, caller] = ['POST', '/v1/users', tenant.admin];
          body = { email: tenant.viewer.email, name: 'Again', role: 'viewer', password: PASSWORD };
          expected = { status: 409, code: 'MEMBER_EXISTS' };
          break;
        case 'other-organisation': {
          const attempts: [string, string, unknown][] = [
            ['PATCH', `/v1/users/${other.viewer.id}`, { name: 'Stolen' }],
            ['POST', `/v1/users/${other.admin.id}/deactivate`, undefined],
            ['DELETE', `/v1/api-keys/${other.adminKey.id}`, undefined],
          ];
          [method, path, body] = attempts[k % 3];
          caller = k % 2 === 0 ? tenant.admin : tenant.adminKey;
          expected = { status: 404, code: 'NOT_FOUND' };
          break;
        }
        case 'malformed': {
          const malformed: [string, string, unknown, string | undefined, string][] = [
            [
              'POST',
              '/v1/users',
              { email: 'nope', name: 'X', role: 'viewer', password: PASSWORD },
              undefined,
              'VALIDATION_FAILED',
            ],
            [
              'PATCH',
              `/v1/users/${tenant.viewer.id}`,
              { role: 'superuser' },
              undefined,
              'VALIDATION_FAILED',
            ],
            [
              'POST',
              '/v1/api-keys',
              { name: 'k', role: 'viewer', organisationId: other.organisationId },
              undefined,
              'VALIDATION_FAILED',
            ],
            ['POST', '/v1/users', undefined, '{"email":', 'MALFORMED_JSON'],
          ];
          let code: string;
          [method, path, body, raw, code] = malformed[k % 4];
          caller = tenant.owner;
          expected = { status: 400, code };
          break;
        }
        case 'refresh-fails':
          [method, path, body] = [
            'POST',
            '/v1/auth/refresh',
            { refreshToken: tenant.doomedRefreshToken },
          ];
          expected = { status: 500, code: 'INTERNAL_ERROR' };
          break;
        default: {
          const unknown: never = kind;
          throw new Error(`no request of kind ${String(unknown)}`);
        }
      }

      const sent = `${path} ${raw ?? JSON.stringify(body ?? null)}`;
      const res = await t.api.request(path, {
        method,
        headers: {
          ...(caller ? { authorization: caller.authorization } : {}),
          ...(body === undefined && raw === undefined
            ? {}
            : { 'content-type': 'application/json' }),
        },
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      outcomes.set(`${kind} ${res.status}`, (outcomes.get(`${kind} ${res.status}`) ?? 0) + 1);
      const where = `#${i} ${tenant.label} ${method} ${path}`;
      const code = res.status >= 400 ? (res.json() as { code?: string }).code : undefined;
      if (
        res.status !== expected.status ||
        (expected.code !== undefined && code !== expected.code)
      ) {
        problems.push(`${where}: ${res.status} ${res.body}`);
        return;
      }
      const leaked = leaks(res, tenant, sent);
      if (leaked.length > 0) problems.push(`${where}: leaked ${leaked.join(', ')}`);
      const wrong = check?.(res);
      if (wrong) problems.push(`${where}: ${wrong}`);
    };

    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        const i = next++;
        mostWaiting = Math.max(mostWaiting, pool.waitingCount);
        mostConnections = Math.max(mostConnections, pool.totalCount);
        await one(i);
      }
    };
    // What the server saw, not what the pool says: the API's connections, sampled while it runs.
    let running = true;
    let mostBackends = 0;
    const sampler = (async () => {
      while (running) {
        const { rows } = await t.db.owner.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'beecastle-api'`,
        );
        mostBackends = Math.max(mostBackends, rows[0].n);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const started = Date.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const elapsed = Date.now() - started;
    running = false;
    await sampler;
    await t.db.owner.query(`DROP TRIGGER isolation_test_refuse_refresh ON refresh_tokens;
      DROP FUNCTION isolation_test_refuse_refresh()`);

    expect({ count: problems.length, first: problems.slice(0, 20) }).toEqual({
      count: 0,
      first: [],
    });
    // The pool was shared and contended: at most two connections, requests queued for them.
    expect(mostConnections).toBeLessThanOrEqual(POOL_SIZE);
    expect(mostWaiting).toBeGreaterThan(0);
    expect(mostBackends).toBeGreaterThan(0);
    expect(mostBackends).toBeLessThanOrEqual(POOL_SIZE);
    // Every kind of request ran, and ran as expected (a kind that never ran could not fail).
    const kinds = new Set([...outcomes.keys()].map((o) => o.split(' ')[0]));
    expect(kinds.size).toBe(KINDS.length + 2);
    process.stdout.write(
      `isolation: ${REQUESTS} requests in ${elapsed} ms; ${JSON.stringify(Object.fromEntries(outcomes))}\n`,
    );

    // The injected failures happened inside a transaction scoped to the row's own organisation.
    const injected = t.api
      .logs()
      .map((line) => (line.err as { message?: string } | undefined)?.message ?? '')
      .filter((message) => message.startsWith('injected failure'));
    expect(injected.length).toBe(outcomes.get('refresh-fails 500'));
    for (const message of injected) {
      const [, scoped, row] = /app\.org_id=(\S*) row=(\S*)/.exec(message) ?? [];
      expect([alpha.organisationId, bravo.organisationId]).toContain(row);
      expect(scoped).toBe(row);
    }

    // Both organisations intact: only the intended writes happened, each in its own organisation.
    const after = await eventCounts();
    for (const tenant of [alpha, bravo]) {
      const id = tenant.organisationId;
      expect(after[id]).toBe(
        before.events[id] + renamed[tenant.label].size + issued[tenant.label].length,
      );
      const users = await listUsers(tenant);
      const viewer = users.find((u) => u.id === tenant.viewer.id);
      expect(renamed[tenant.label]).toContain(viewer?.name);
      expect(users).toEqual(
        before.users[tenant.label].map((u) =>
          u.id === tenant.viewer.id ? { ...u, name: viewer?.name } : u,
        ),
      );
      const keys = await listKeys(tenant);
      expect(keys.map((key) => key.id).sort()).toEqual(
        [...before.keys[tenant.label], ...issued[tenant.label]].map((key) => key.id).sort(),
      );
      expect(keys.every((key) => key.name.startsWith(tenant.label) && key.revokedAt === null)).toBe(
        true,
      );
    }
    expect(Object.keys(after).sort()).toEqual(Object.keys(before.events).sort());

    // Each failed refresh was rolled back whole: the doomed token is still unspent and works now.
    for (const tenant of [alpha, bravo]) {
      const res = await http().send('POST', '/v1/auth/refresh', undefined, {
        refreshToken: tenant.doomedRefreshToken,
      });
      expect(res.status).toBe(200);
      const { accessToken } = res.json() as { accessToken: string };
      expect(claimsOf(accessToken)).toMatchObject({
        org: tenant.organisationId,
        sid: tenant.doomedSessionId,
      });
    }
  });

  describe('another organisation’s object answers exactly as a random id, appending nothing', () => {
    const attempts: [string, (tenant: Tenant) => string, unknown][] = [
      ['PATCH', (o) => `/v1/users/${o.viewer.id}`, { name: 'Stolen' }],
      ['PATCH', (o) => `/v1/users/${o.owner.id}`, { role: 'viewer' }],
      ['POST', (o) => `/v1/users/${o.admin.id}/deactivate`, undefined],
      ['DELETE', (o) => `/v1/api-keys/${o.adminKey.id}`, undefined],
    ];

    it.each(['owner', 'adminKey'] as const)('as the %s', async (as) => {
      for (const tenant of [alpha, bravo]) {
        const other = otherThan(tenant);
        for (const [method, pathOf, body] of attempts) {
          const path = pathOf(other);
          const random = path.replace(/[0-9a-f-]{36}/, randomUUID());
          const before = await eventCounts();
          const theirs = await http().send(method, path, tenant[as], body);
          const unknown = await http().send(method, random, tenant[as], body);
          expect(await eventCounts()).toEqual(before);
          expect([method, path, theirs.status]).toEqual([method, path, 404]);
          expect(unknown.status).toBe(404);
          expect(withoutRequestId(theirs)).toEqual(withoutRequestId(unknown));
          expect(theirs.headers['content-type']).toBe(unknown.headers['content-type']);
          expect(theirs.headers['x-request-id']).not.toBe(unknown.headers['x-request-id']);
        }
      }
      // Still there, still active, the key still working.
      for (const tenant of [alpha, bravo]) {
        expect((await listUsers(tenant)).every((u) => u.status === 'active')).toBe(true);
        expect((await http().send('GET', '/v1/me', tenant.adminKey)).status).toBe(200);
      }
    });
  });

  describe('an organisation named by the client never becomes the effective one', () => {
    const reads = ['/v1/users', '/v1/api-keys', '/v1/me', '/v1/audit/requests'];

    it.each([
      [
        'header X-Organisation-Id',
        (o: string) => ({ headers: { 'x-organisation-id': o }, query: '' }),
      ],
      ['header X-Org-Id', (o: string) => ({ headers: { 'x-org-id': o }, query: '' })],
      ['query ?organisationId=', (o: string) => ({ headers: {}, query: `?organisationId=${o}` })],
      ['query ?org_id=', (o: string) => ({ headers: {}, query: `?org_id=${o}` })],
    ])('in a %s: ignored or refused, never the other’s data', async (_where, named) => {
      for (const tenant of [alpha, bravo]) {
        const { headers, query } = named(otherThan(tenant).organisationId);
        for (const path of reads) {
          for (const caller of [tenant.owner, tenant.adminKey]) {
            const plain = await http().send('GET', path, caller);
            const res = await http().send('GET', `${path}${query}`, caller, undefined, headers);
            expect([path, leaks(res, tenant, `${path}${query}`)]).toEqual([path, []]);
            if (res.status === 400) {
              expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
              continue;
            }
            expect([path, res.status]).toEqual([path, 200]);
            if (path === '/v1/audit/requests') {
              // The log of this organisation's own people and keys, and of nobody else.
              const users = new Set((await listUsers(tenant)).map((u) => u.id));
              const keys = new Set((await listKeys(tenant)).map((k) => k.id));
              const { items } = res.json() as Listing<{
                userId: string | null;
                apiKeyId: string | null;
              }>;
              expect(items.length).toBeGreaterThan(0);
              for (const item of items) {
                expect([
                  item.userId === null || users.has(item.userId),
                  item.apiKeyId === null || keys.has(item.apiKeyId),
                ]).toEqual([true, true]);
              }
            } else {
              expect(res.json()).toEqual(plain.json());
            }
          }
        }
      }
    });

    it('in a write’s header and query: the change lands in the caller’s organisation', async () => {
      const before = await eventCounts();
      const name = `Alpha header key ${randomUUID()}`;
      const other = bravo.organisationId;
      const res = await http().send(
        'POST',
        `/v1/api-keys?organisationId=${other}&org_id=${other}`,
        alpha.owner,
        { name, role: 'viewer' },
        { 'x-organisation-id': other, 'x-org-id': other },
      );
      expect(res.status).toBe(201);
      const after = await eventCounts();
      expect(after[alpha.organisationId]).toBe(before[alpha.organisationId] + 1);
      expect(after[bravo.organisationId]).toBe(before[bravo.organisationId]);
      expect((await listKeys(alpha)).map((k) => k.name)).toContain(name);
      expect((await listKeys(bravo)).map((k) => k.name)).not.toContain(name);
    });

    it.each(['organisationId', 'organisation_id', 'org_id', 'orgId', 'organisation'])(
      'in a body field %s: 400 naming it, appending nothing anywhere',
      async (field) => {
        const other = bravo.organisationId;
        const writes: [string, string, Record<string, unknown>][] = [
          [
            'POST',
            '/v1/users',
            {
              email: `alpha-x-${randomUUID()}@alpha.test`,
              name: 'Alpha X',
              role: 'viewer',
              password: PASSWORD,
            },
          ],
          ['PATCH', `/v1/users/${alpha.viewer.id}`, { name: 'Alpha Renamed' }],
          ['POST', '/v1/api-keys', { name: 'Alpha body key', role: 'viewer' }],
        ];
        for (const [method, path, valid] of writes) {
          const before = await eventCounts();
          const res = await http().send(method, path, alpha.owner, { ...valid, [field]: other });
          expect([method, path, res.status]).toEqual([method, path, 400]);
          expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: [field] });
          expect(await eventCounts()).toEqual(before);
        }
      },
    );
  });
});
