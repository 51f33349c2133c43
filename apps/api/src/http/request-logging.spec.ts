import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { RequestLogEntry, RequestLogSink } from '@beecastle/audit';
import { createRootLogger } from '@beecastle/runtime';
import type { AuthContext } from '../auth/auth-context';
import { type LoggedRequest, requestLoggingHook } from './request-logging';

const ORG = '0b9d6f4e-6c1e-4d8e-9a55-3f0f1e2d3c4b';
const USER = '5e0c1d2b-3a4f-4e6d-9c8b-7a6f5e4d3c2b';
const KEY = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const CANARY = 'canary-d2f1e0c9';

const userAuth: AuthContext = {
  organisationId: ORG,
  actor: { type: 'user', id: USER },
  role: 'admin',
  permissions: [],
  userId: USER,
  sessionId: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e',
};
const keyAuth: AuthContext = {
  organisationId: ORG,
  actor: { type: 'api_key', id: KEY },
  role: 'viewer',
  permissions: [],
  userId: USER, // the key's creator: not the actor
  apiKeyId: KEY,
};

interface Scenario {
  readonly method?: string;
  readonly url?: string;
  readonly ip?: string;
  readonly route?: string;
  readonly user?: AuthContext;
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

/** One request through the hook, on a real Node response (no socket I/O). */
async function run(scenario: Scenario): Promise<{
  entries: RequestLogEntry[];
  lines: Record<string, unknown>[];
}> {
  const lines: string[] = [];
  const logger = createRootLogger('info', { write: (line: string) => void lines.push(line) });
  const entries: RequestLogEntry[] = [];
  const sink: RequestLogSink = { record: (entry) => void entries.push(entry) };
  // Fastify's request as the hook sees it, headers and body included (the log must copy neither),
  // over a real Node response.
  const raw = new IncomingMessage(new Socket());
  raw.headers = scenario.headers ?? {};
  const req: LoggedRequest & { headers: unknown; body: unknown; routeOptions: { url?: string } } = {
    id: 'b7e0a1c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c',
    ip: scenario.ip ?? '127.0.0.1',
    method: scenario.method ?? 'GET',
    url: scenario.url ?? '/v1/me',
    headers: raw.headers,
    body: scenario.body,
    routeOptions: {},
  };
  const res = new ServerResponse(raw);

  let doneCalled = false;
  requestLoggingHook(logger, sink)(req, { raw: res }, () => (doneCalled = true));
  expect(doneCalled).toBe(true);
  // What the app does between: routing, the guard, the handler.
  if (scenario.route) req.routeOptions.url = scenario.route;
  if (scenario.user) req.user = scenario.user;
  await new Promise((resolve) => setTimeout(resolve, 3));
  res.statusCode = scenario.status ?? 200;
  res.emit('finish');
  await new Promise((resolve) => setImmediate(resolve));
  return { entries, lines: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('request logging', () => {
  it('gives the writer and stdout one record per request, with the signed-in user', async () => {
    const before = Date.now();
    const { entries, lines } = await run({
      method: 'PATCH',
      url: '/v1/users/5e0c1d2b-3a4f-4e6d-9c8b-7a6f5e4d3c2b?x=1',
      route: '/v1/users/:id',
      user: userAuth,
      status: 403,
    });
    expect(entries).toEqual([
      {
        at: expect.any(Date),
        requestId: 'b7e0a1c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c',
        clientIp: '127.0.0.1',
        method: 'PATCH',
        route: '/v1/users/:id',
        status: 403,
        latencyMs: expect.any(Number),
        organisationId: ORG,
        userId: USER,
        apiKeyId: undefined,
      },
    ]);
    const [entry] = entries;
    expect(entry.at.getTime()).toBeGreaterThanOrEqual(before);
    expect(entry.latencyMs).toBeGreaterThanOrEqual(2);
    expect(lines).toEqual([
      {
        level: 'info',
        time: expect.any(String),
        pid: expect.any(Number),
        hostname: expect.any(String),
        requestId: entry.requestId,
        at: entry.at.toISOString(),
        clientIp: '127.0.0.1',
        method: 'PATCH',
        route: '/v1/users/:id',
        path: '/v1/users/5e0c1d2b-3a4f-4e6d-9c8b-7a6f5e4d3c2b',
        status: 403,
        latencyMs: entry.latencyMs,
        organisationId: ORG,
        userId: USER,
        msg: 'request',
      },
    ]);
  });

  it('names the API key, not its creator, when a key called', async () => {
    const { entries, lines } = await run({ user: keyAuth, route: '/v1/me' });
    expect(entries[0]).toMatchObject({ organisationId: ORG, userId: undefined, apiKeyId: KEY });
    expect(lines[0]).toMatchObject({ organisationId: ORG, apiKeyId: KEY });
    expect(lines[0]).not.toHaveProperty('userId');
  });

  it('attributes nothing to a request without a verified caller (401, 404, 413, 415)', async () => {
    for (const status of [401, 404, 413, 415]) {
      const { entries, lines } = await run({ method: 'POST', url: '/v1/nowhere', status });
      expect(entries).toEqual([
        expect.objectContaining({
          status,
          route: undefined,
          organisationId: undefined,
          userId: undefined,
          apiKeyId: undefined,
        }),
      ]);
      expect(lines[0]).not.toHaveProperty('organisationId');
      expect(lines[0]).not.toHaveProperty('route');
    }
  });

  it('logs a 5xx at error level, still once', async () => {
    const { entries, lines } = await run({ status: 503 });
    expect(entries).toHaveLength(1);
    expect(lines).toEqual([expect.objectContaining({ level: 'error', status: 503 })]);
  });

  it('stores IPv4 clients of a dual-stack listener as IPv4, and no address it cannot store', async () => {
    expect((await run({ ip: '::ffff:203.0.113.9' })).entries[0].clientIp).toBe('203.0.113.9');
    expect((await run({ ip: 'garbage' })).entries[0].clientIp).toBeUndefined();
  });

  it('copies no header, query string or body into either sink', async () => {
    const { entries, lines } = await run({
      method: 'POST',
      url: `/v1/auth/token?password=${CANARY}-query`,
      headers: {
        authorization: `Bearer ${CANARY}-token`,
        cookie: `session=${CANARY}-cookie`,
        'x-api-key': `${CANARY}-key`,
      },
      body: { email: 'ada@example.com', password: `${CANARY}-password` },
      status: 401,
    });
    const everything = JSON.stringify([entries, lines]);
    expect(everything).not.toContain(CANARY);
    expect(everything).not.toContain('ada@example.com');
  });

  it('keeps answering when the sink throws: the failure is logged, the line still written', async () => {
    const lines: string[] = [];
    const logger = createRootLogger('info', { write: (line: string) => void lines.push(line) });
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const req: LoggedRequest = { id: 'r-1', ip: '127.0.0.1', method: 'GET', url: '/health/live' };
    const sink: RequestLogSink = {
      record: () => {
        throw new Error('full');
      },
    };
    requestLoggingHook(logger, sink)(req, { raw: res }, () => undefined);
    expect(() => res.emit('finish')).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => l.msg)).toEqual(['request log: the sink refused a record', 'request']);
  });
});
