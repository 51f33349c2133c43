import { freePort } from '@beecastle/database';
import { startTestApi, useTestApi, type TestApi } from './support/test-api';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('health', () => {
  describe('with a migrated database', () => {
    const t = useTestApi();

    it('GET /health/live answers 200 {status: ok}', async () => {
      const res = await t.api.request('/health/live');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json; charset=utf-8/);
      expect(res.json()).toEqual({ status: 'ok' });
      expect(res.headers['x-request-id']).toMatch(UUID);
    });

    it('GET /health/ready answers 200 with the database up', async () => {
      const res = await t.api.request('/health/ready');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ status: 'ok', checks: { database: 'up' } });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-request-id']).toMatch(UUID);
    });

    it('GET /health/ready answers 503 when the application role cannot read the event log', async () => {
      // As if migrations had not run their grants: the database answers, the schema is not usable.
      await t.db.owner.query('REVOKE SELECT ON events FROM beecastle_app');
      try {
        const res = await t.api.request('/health/ready');
        expect(res.status).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json()).toMatchObject({ code: 'NOT_READY', checks: { database: 'down' } });
        // The reason is for the log, not for the (public) probe.
        expect(res.body).not.toMatch(/permission denied/i);
        expect(JSON.stringify(t.api.logs())).toMatch(/permission denied for table events/);
      } finally {
        await t.db.owner.query('GRANT SELECT ON events TO beecastle_app');
      }
      expect((await t.api.request('/health/ready')).status).toBe(200);
    });
  });

  describe('with the database unreachable', () => {
    let api: TestApi;
    beforeAll(async () => {
      // A port nothing listens on: connections are refused at once.
      const port = await freePort();
      api = await startTestApi({
        databaseUrl: `postgres://beecastle_app_login:x@127.0.0.1:${port}/beecastle_test_gone`,
      });
    });
    afterAll(() => api.close());

    it('GET /health/ready answers 503 problem details naming the database', async () => {
      const res = await api.request('/health/ready');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json; charset=utf-8/);
      const requestId = res.headers['x-request-id'];
      expect(requestId).toMatch(UUID);
      expect(res.json()).toEqual({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'Not ready: database unavailable.',
        code: 'NOT_READY',
        requestId,
        checks: { database: 'down' },
      });
    });

    it('GET /health/live still answers 200: the process itself is fine', async () => {
      const res = await api.request('/health/live');
      expect(res.status).toBe(200);
    });
  });
});
