import {
  createTestDatabase,
  type TestDatabase,
} from '../../libs/database/src/testing/test-database';
import { startTestApi, type TestApi } from './support/test-api';

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

  it('logs rejected requests too, without a route when none matched', async () => {
    const res = await api.request('/v1/contacts', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    const line = await api.requestLog(res.headers['x-request-id'] as string);
    expect(line).toMatchObject({ method: 'POST', path: '/v1/contacts', status: 415 });
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
  });

  it('takes the client IP from X-Forwarded-For when the peer is a trusted proxy', async () => {
    const res = await behindProxy.request('/health/live', {
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    });
    const line = await behindProxy.requestLog(res.headers['x-request-id'] as string);
    expect(line.clientIp).toBe('203.0.113.9');
  });
});
