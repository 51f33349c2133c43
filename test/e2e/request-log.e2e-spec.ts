import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { RequestLogWriter } from '../../libs/audit/src';
import {
  createTestDatabase,
  TEST_ENV_VARIABLE,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from '../../libs/database/src/testing/test-database';
import type { HttpsResponse } from './support/https-request';
import {
  client,
  createOrganisation,
  type Caller,
  PASSWORD,
  useLiveSystem,
} from './support/live-organisation';
import { startTestApi, type TestApi } from './support/test-api';

/** A superuser on one test database: reads every organisation's rows, past row-level security. */
async function asSuperuser<T>(db: TestDatabase, work: (su: Client) => Promise<T>): Promise<T> {
  const env = JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;
  const url = new URL(env.superuserUrl);
  url.pathname = `/${db.name}`;
  const su = new Client({ connectionString: url.toString() });
  await su.connect();
  try {
    return await work(su);
  } finally {
    await su.end();
  }
}

interface StoredRecord {
  table: 'request_log' | 'request_log_unattributed';
  org_id: string | null;
  user_id: string | null;
  api_key_id: string | null;
  client_ip: string | null;
  method: string;
  route: string | null;
  status: number;
}

/** Every stored record of these requests, from both tables. */
async function storedRecords(db: TestDatabase, requestIds: readonly string[]) {
  return asSuperuser(db, async (su) => {
    const result = await su.query<StoredRecord & { request_id: string }>(
      `SELECT 'request_log' AS table, request_id, org_id, user_id, api_key_id,
              host(client_ip) AS client_ip, method, route, status
         FROM request_log WHERE request_id = ANY($1)
       UNION ALL
       SELECT 'request_log_unattributed', request_id, NULL, NULL, NULL,
              host(client_ip), method, route, status
         FROM request_log_unattributed WHERE request_id = ANY($1)`,
      [requestIds],
    );
    return result.rows;
  });
}

/** The records of these requests once the writer has written them all (it batches every 200 ms). */
async function waitForStored(db: TestDatabase, requestIds: readonly string[]) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const rows = await storedRecords(db, requestIds);
    if (new Set(rows.map((r) => r.request_id)).size === requestIds.length) return rows;
    if (Date.now() > deadline) throw new Error('request log records not written in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const idOf = (res: HttpsResponse) => res.headers['x-request-id'] as string;

describe('request log', () => {
  let db: TestDatabase;
  let api: TestApi;
  let behindProxy: TestApi;
  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startTestApi({ databaseUrl: db.appUrl });
    behindProxy = await startTestApi({
      databaseUrl: db.appUrl,
      env: { TRUSTED_PROXIES: '127.0.0.1' },
    });
  });
  afterAll(async () => {
    await Promise.all([api.close(), behindProxy.close()]);
    await db.drop();
  });

  it('writes one structured line per request: UTC time, id, client IP, method, route, status, latency', async () => {
    const res = await api.request('/health/live?probe=1');
    const requestId = res.headers['x-request-id'] as string;
    const line = await api.requestLog(requestId);
    expect(line).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: expect.any(Number),
      hostname: expect.any(String),
      requestId,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      clientIp: '127.0.0.1',
      method: 'GET',
      route: '/health/live',
      path: '/health/live',
      status: 200,
      latencyMs: expect.any(Number),
      msg: 'request',
    });
    expect(api.logs().filter((l) => l.requestId === requestId && l.msg === 'request')).toHaveLength(
      1,
    );
  });

  it('logs rejected requests too: under the route they were for, and without one when none matched', async () => {
    const refused = await api.request('/v1/contacts', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    expect(await api.requestLog(refused.headers['x-request-id'] as string)).toMatchObject({
      method: 'POST',
      route: '/v1/contacts',
      path: '/v1/contacts',
      status: 415,
    });
    const unknown = await api.request('/v1/nowhere?secret=1', { method: 'DELETE' });
    const line = await api.requestLog(unknown.headers['x-request-id'] as string);
    expect(line).toMatchObject({ method: 'DELETE', path: '/v1/nowhere', status: 404 });
    expect(line).not.toHaveProperty('route');
  });

  it('never logs credentials, cookies, query strings or bodies', async () => {
    const res = await api.request('/v1/auth/token?password=query-secret', {
      method: 'POST',
      headers: {
        Authorization: 'Bearer header-secret-token',
        Cookie: 'session=cookie-secret',
        'X-Api-Key': 'api-key-secret',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ email: 'ada@example.com', password: 'body-secret' }),
    });
    await api.requestLog(res.headers['x-request-id'] as string);
    const everything = JSON.stringify(api.logs());
    for (const secret of [
      'header-secret-token',
      'cookie-secret',
      'api-key-secret',
      'query-secret',
      'body-secret',
      'ada@example.com',
    ]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const res = await api.request('/health/live', {
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    });
    const line = await api.requestLog(res.headers['x-request-id'] as string);
    expect(line.clientIp).toBe('127.0.0.1');
    const [stored] = await waitForStored(db, [idOf(res)]);
    expect(stored.client_ip).toBe('127.0.0.1');
  });

  it('takes the client IP from X-Forwarded-For when the peer is a trusted proxy', async () => {
    const res = await behindProxy.request('/health/live', {
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    });
    const line = await behindProxy.requestLog(res.headers['x-request-id'] as string);
    expect(line.clientIp).toBe('203.0.113.9');
    const [stored] = await waitForStored(db, [idOf(res)]);
    expect(stored.client_ip).toBe('203.0.113.9');
  });

  it('writes every buffered record before a clean shutdown completes', async () => {
    const closing = await startTestApi({ databaseUrl: db.appUrl });
    const writer = closing.app.get(RequestLogWriter);
    const ids: string[] = [];
    // Bursts until one ends between two ticks of the writer's 200 ms timer, then close at once:
    // the records still buffered then can only be written by close().
    for (let burst = 0; burst < 20 && (ids.length === 0 || writer.buffered === 0); burst += 1) {
      const responses = await Promise.all(
        ['/health/live', '/v1/me', '/health/live', '/v1/me'].map((path) => closing.request(path)),
      );
      ids.push(...responses.map(idOf));
    }
    const buffered = writer.buffered;
    await closing.close();
    expect(buffered).toBeGreaterThan(0);
    const rows = await storedRecords(db, ids);
    expect(rows).toHaveLength(ids.length);
    expect(rows.filter((r) => r.status === 401)).toHaveLength(ids.length / 2);
  });
});

describe('request log of signed-in organisations', () => {
  const live = useLiveSystem();
  let organisationId: string;
  let owner: Caller;
  let auditor: Caller;
  let viewer: Caller;
  let key: Caller;
  beforeAll(async () => {
    const created = await createOrganisation(live.db, 'Request Log Ltd');
    organisationId = created.organisationId;
    const c = client(live.api);
    owner = await c.signIn(created.owner, organisationId);
    auditor = await c.addMember(owner, organisationId, 'auditor');
    viewer = await c.addMember(owner, organisationId, 'viewer');
    key = await c.issueKey(owner, 'auditor');
  });
  const send = (...args: Parameters<ReturnType<typeof client>['send']>) =>
    client(live.api).send(...args);
  const requests = (caller: Caller, query = '') =>
    send('GET', `/v1/audit/requests${query}`, caller);

  it('records each rejected request exactly once on stdout and once in the right table', async () => {
    const cases: [string, Promise<HttpsResponse>][] = [
      ['401', send('GET', '/v1/me')],
      ['401 bad token', send('GET', '/v1/me', { authorization: 'Bearer not.a.token' })],
      ['404', send('GET', '/v1/nowhere', owner)],
      ['413', send('POST', '/v1/auth/token', undefined, { notes: 'x'.repeat(256 * 1024 + 1) })],
      [
        '415',
        live.api.request('/v1/auth/token', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'hello',
        }),
      ],
      ['400 public', send('POST', '/v1/auth/token', undefined, { unknown: 1 })],
      ['400 signed in', requests(auditor, '?limit=0')],
      ['403', requests(viewer)],
    ];
    const responses = await Promise.all(cases.map(([, res]) => res));
    expect(responses.map((r) => r.status)).toEqual([401, 401, 404, 413, 415, 400, 400, 403]);
    const ids = responses.map(idOf);
    for (const id of ids) await live.api.requestLog(id);
    const lines = live.api
      .logs()
      .filter((l) => l.msg === 'request' && ids.includes(l.requestId as string));
    expect(lines.map((l) => l.requestId).sort()).toEqual([...ids].sort());

    const rows = await waitForStored(live.db, ids);
    const byId = new Map(rows.map((r) => [r.request_id, r]));
    expect(rows).toHaveLength(ids.length);
    const unattributed = { table: 'request_log_unattributed', org_id: null, user_id: null };
    expect(ids.map((id) => byId.get(id))).toEqual([
      expect.objectContaining({ ...unattributed, status: 401, route: '/v1/me' }),
      expect.objectContaining({ ...unattributed, status: 401, route: '/v1/me' }),
      // 404 of an unknown path: the owner's token was never looked at (no route, no guard).
      expect.objectContaining({ ...unattributed, status: 404, route: null }),
      expect.objectContaining({ ...unattributed, status: 413, method: 'POST' }),
      expect.objectContaining({ ...unattributed, status: 415, method: 'POST' }),
      expect.objectContaining({ ...unattributed, status: 400, route: '/v1/auth/token' }),
      expect.objectContaining({
        table: 'request_log',
        org_id: organisationId,
        user_id: auditor.id,
        api_key_id: null,
        status: 400,
        route: '/v1/audit/requests',
        client_ip: '127.0.0.1',
      }),
      expect.objectContaining({
        table: 'request_log',
        org_id: organisationId,
        user_id: viewer.id,
        status: 403,
      }),
    ]);
    // The stdout line carries the same attribution.
    expect(lines.find((l) => l.requestId === ids[7])).toMatchObject({
      organisationId,
      userId: viewer.id,
      status: 403,
    });
  });

  it('attributes a successful sign-in and refresh to the member, a failed one to nobody', async () => {
    const signedIn = await send('POST', '/v1/auth/token', undefined, {
      email: viewer.email,
      password: PASSWORD,
      organisationId,
    });
    expect(signedIn.status).toBe(200);
    const { refreshToken } = signedIn.json() as { refreshToken: string };
    const refreshed = await send('POST', '/v1/auth/refresh', undefined, { refreshToken });
    expect(refreshed.status).toBe(200);
    const failed = await send('POST', '/v1/auth/token', undefined, {
      email: viewer.email,
      password: `${PASSWORD}-wrong`,
      organisationId,
    });
    expect(failed.status).toBe(401);

    const ids = [signedIn, refreshed, failed].map(idOf);
    const byId = new Map((await waitForStored(live.db, ids)).map((r) => [r.request_id, r]));
    const member = { table: 'request_log', org_id: organisationId, user_id: viewer.id };
    expect(byId.get(ids[0])).toMatchObject({ ...member, route: '/v1/auth/token', status: 200 });
    expect(byId.get(ids[1])).toMatchObject({ ...member, route: '/v1/auth/refresh', status: 200 });
    expect(byId.get(ids[2])).toMatchObject({
      table: 'request_log_unattributed',
      org_id: null,
      status: 401,
    });
  });

  it('serves the organisation its own log, newest first, with the fields API.md names', async () => {
    const mine = await send('GET', '/v1/me', key);
    expect(mine.status).toBe(200);
    await waitForStored(live.db, [idOf(mine)]);
    const res = await requests(auditor);
    expect(res.status).toBe(200);
    const { items, nextCursor } = res.json() as {
      items: Record<string, unknown>[];
      nextCursor: string | null;
    };
    expect(nextCursor).toBeNull();
    expect(items[0]).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requestId: idOf(mine),
      clientIp: '127.0.0.1',
      method: 'GET',
      route: '/v1/me',
      status: 200,
      latencyMs: expect.any(Number),
      userId: null,
      apiKeyId: key.id,
    });
    const times = items.map((i) => Date.parse(i.at as string));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    // Nothing unattributed, nothing of another organisation.
    expect(items.every((i) => i.status !== 401)).toBe(true);
  });

  it('filters by user, IP, status and time, and pages without gaps or repeats', async () => {
    const since = new Date().toISOString();
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) made.push(idOf(await send('GET', '/v1/me', viewer)));
    made.push(idOf(await requests(viewer))); // 403
    await waitForStored(live.db, made);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await requests(
        auditor,
        `?userId=${viewer.id}&from=${encodeURIComponent(since)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      const body = page.json() as {
        items: { requestId: string; userId: string }[];
        nextCursor: string | null;
      };
      expect(body.items.length).toBeLessThanOrEqual(2);
      expect(body.items.every((i) => i.userId === viewer.id)).toBe(true);
      seen.push(...body.items.map((i) => i.requestId));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual([...made].reverse());

    const forbidden = await requests(
      auditor,
      `?status=403&userId=${viewer.id}&from=${encodeURIComponent(since)}`,
    );
    expect(
      (forbidden.json() as { items: { requestId: string }[] }).items.map((i) => i.requestId),
    ).toEqual([made[5]]);
    const elsewhere = await requests(auditor, `?ip=203.0.113.9&from=${encodeURIComponent(since)}`);
    expect((elsewhere.json() as { items: unknown[] }).items).toEqual([]);
    const local = await requests(
      auditor,
      `?ip=127.0.0.1&userId=${viewer.id}&from=${encodeURIComponent(since)}`,
    );
    expect((local.json() as { items: unknown[] }).items).toHaveLength(6);
    const mapped = await requests(
      auditor,
      `?ip=${encodeURIComponent('::ffff:127.0.0.1')}&userId=${viewer.id}&from=${encodeURIComponent(since)}`,
    );
    expect(mapped.json()).toEqual(local.json());
    const before = await requests(auditor, `?userId=${viewer.id}&to=${encodeURIComponent(since)}`);
    expect(
      (before.json() as { items: { requestId: string }[] }).items.map((i) => i.requestId),
    ).not.toContain(made[0]);
  });

  it('refuses a cursor made for other filters or another organisation, and malformed queries, naming the field', async () => {
    for (let i = 0; i < 3; i += 1) await send('GET', '/v1/me', auditor);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const first = await requests(auditor, '?limit=1');
    const { nextCursor } = first.json() as { nextCursor: string };
    expect(nextCursor).toEqual(expect.any(String));
    expect((await requests(auditor, `?limit=1&cursor=${nextCursor}`)).status).toBe(200);

    const other = await createOrganisation(live.db, 'Elsewhere Ltd');
    const stranger = await client(live.api).signIn(other.owner, other.organisationId);
    const refusals: [string, Caller, string][] = [
      ['cursor', auditor, `?status=200&cursor=${nextCursor}`],
      ['cursor', stranger, `?limit=1&cursor=${nextCursor}`],
      ['cursor', auditor, '?cursor=bm90IGEgY3Vyc29y'],
      ['limit', auditor, '?limit=0'],
      ['limit', auditor, '?limit=201'],
      ['limit', auditor, '?limit=ten'],
      ['userId', auditor, '?userId=42'],
      ['ip', auditor, '?ip=localhost'],
      ['status', auditor, '?status=2000'],
      ['status', auditor, '?status=200&status=404'],
      ['from', auditor, '?from=yesterday'],
      ['from', auditor, '?from=2026-02-30T00:00:00Z'],
      ['to', auditor, '?to=2026-03-01T10:00:00'],
      ['organisationId', auditor, `?organisationId=${other.organisationId}`],
    ];
    const strangers: string[] = [];
    for (const [field, caller, query] of refusals) {
      const res = await requests(caller, query);
      if (caller === stranger) strangers.push(idOf(res));
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: [field] });
    }
    const backwards = await requests(auditor, '?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z');
    expect(backwards.json()).toMatchObject({ status: 400, fields: ['from', 'to'] });

    // The other organisation's log holds only its own requests.
    await waitForStored(live.db, strangers);
    const theirs = await requests(stranger, '?limit=200');
    expect(theirs.status).toBe(200);
    const items = (theirs.json() as { items: { userId: string | null }[] }).items;
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((i) => i.userId === stranger.id)).toBe(true);
  });

  it('plants canary secrets and finds them in no sink: stdout, both request tables, the events', async () => {
    const canary = `canary-${randomUUID()}`;
    const password = `${canary}-password`;
    const email = `canary-${randomUUID()}@example.test`;
    const added = await send('POST', '/v1/users', owner, {
      email,
      name: 'Canary',
      role: 'editor',
      password,
    });
    expect(added.status).toBe(201);
    const signedIn = await send('POST', '/v1/auth/token', undefined, {
      email,
      password,
      organisationId,
    });
    expect(signedIn.status).toBe(200);
    const tokens = signedIn.json() as { accessToken: string; refreshToken: string };
    const wrong = await send('POST', '/v1/auth/token', undefined, {
      email,
      password: `${password}-wrong`,
    });
    expect(wrong.status).toBe(401);
    const bearer = `${canary}-bearer`;
    const fakeKey = `bck_${canary}-api-key`;
    const responses = [
      added,
      signedIn,
      wrong,
      await send('GET', '/v1/me', { authorization: `Bearer ${tokens.accessToken}` }),
      await send('GET', '/v1/me', { authorization: `Bearer ${bearer}` }),
      await send('GET', '/v1/me', { authorization: `Bearer ${fakeKey}` }),
      await send('GET', `/v1/me?access_token=${bearer}`),
      await send('GET', '/v1/me', key),
      await send('POST', '/v1/auth/refresh', undefined, { refreshToken: tokens.refreshToken }),
    ];
    expect(responses.map((r) => r.status)).toEqual([201, 200, 401, 200, 401, 401, 401, 200, 200]);
    const refreshed = responses[8].json() as { accessToken: string; refreshToken: string };
    const ids = responses.map(idOf);
    await waitForStored(live.db, ids);

    const secrets = [
      canary,
      tokens.accessToken,
      tokens.refreshToken,
      refreshed.accessToken,
      refreshed.refreshToken,
      key.authorization.slice('Bearer '.length),
      owner.authorization.slice('Bearer '.length),
    ];
    const stdout = live.api
      .logs()
      .map((l) => JSON.stringify(l))
      .join('\n');
    const sinks = await asSuperuser(live.db, async (su) => ({
      requestLog: (
        await su.query<{ r: string }>(`SELECT row_to_json(t)::text AS r FROM request_log t`)
      ).rows
        .map((x) => x.r)
        .join('\n'),
      unattributed: (
        await su.query<{ r: string }>(
          `SELECT row_to_json(t)::text AS r FROM request_log_unattributed t`,
        )
      ).rows
        .map((x) => x.r)
        .join('\n'),
      events: (
        await su.query<{ r: string }>(
          `SELECT encode(data, 'escape') || encode(metadata, 'escape') AS r FROM events`,
        )
      ).rows
        .map((x) => x.r)
        .join('\n'),
    }));
    // Stored payloads are ciphertext: the events are searched as they decrypt too, so a secret
    // that reached a payload is found whatever encryption hides.
    const decrypted = (await live.store.readAll())
      .map((e) => Buffer.from(e.data).toString('utf8'))
      .join('\n');
    Object.assign(sinks, { decryptedEvents: decrypted });
    // The searches can find things: what each sink should hold, it does.
    expect(stdout).toContain(ids[4]);
    expect(sinks.requestLog).toContain(ids[0]);
    expect(sinks.unattributed).toContain(ids[4]);
    expect(decrypted).toContain(email);
    expect(sinks.events).not.toContain(email);
    for (const secret of secrets) {
      expect([secret, stdout.includes(secret)]).toEqual([secret, false]);
      for (const [sink, text] of Object.entries(sinks)) {
        expect([sink, secret, text.includes(secret)]).toEqual([sink, secret, false]);
      }
    }
  });
});
