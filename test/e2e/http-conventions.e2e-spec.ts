import { connect } from 'node:net';
import type { HttpsResponse } from './support/https-request';
import { useTestApi } from './support/test-api';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Problem details as API.md defines them, tied to the X-Request-Id of the same response. */
function expectProblem(res: HttpsResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const requestId = res.headers['x-request-id'];
  expect(requestId).toMatch(UUID);
  expect(res.json()).toEqual({
    type: 'about:blank',
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    requestId,
  });
}

function expectSecurityHeaders(res: HttpsResponse): void {
  expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
  expect(res.headers['x-powered-by']).toBeUndefined();
}

describe('HTTP conventions', () => {
  const t = useTestApi();

  describe('X-Request-Id', () => {
    it('is a fresh UUID on every response when the caller sends none', async () => {
      const [a, b] = await Promise.all([t.api.request('/health/live'), t.api.request('/nope')]);
      expect(a.headers['x-request-id']).toMatch(UUID);
      expect(b.headers['x-request-id']).toMatch(UUID);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });

    it('echoes a well-formed incoming id, also in the problem document', async () => {
      const id = '0b6c4d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e';
      const res = await t.api.request('/nope', { headers: { 'X-Request-Id': id } });
      expect(res.headers['x-request-id']).toBe(id);
      expect(res.json()).toMatchObject({ requestId: id });
    });

    it('replaces a malformed incoming id', async () => {
      const res = await t.api.request('/health/live', {
        headers: { 'X-Request-Id': 'x"}, "admin": true' },
      });
      expect(res.headers['x-request-id']).toMatch(UUID);
    });
  });

  it('answers an unknown route with 404 problem details', async () => {
    const res = await t.api.request('/v1/does-not-exist?q=1');
    expectProblem(res, 404, 'NOT_FOUND');
    expectSecurityHeaders(res);
  });

  describe("the router's own refusals", () => {
    it('answers a path that is not valid percent-encoding with 400 problem details, and logs it', async () => {
      const res = await t.api.request('/v1/contacts/%zz');
      expectProblem(res, 400, 'BAD_REQUEST');
      expectSecurityHeaders(res);
      expect(res.body).not.toContain('%zz');
      const line = await t.api.requestLog(res.headers['x-request-id'] as string);
      expect(line).toMatchObject({ method: 'GET', status: 400, path: '/v1/contacts/%zz' });
      expect(line).not.toHaveProperty('route');
    });

    it('answers an over-long path segment with 414 problem details, without echoing it', async () => {
      const segment = 'a'.repeat(1_200);
      const res = await t.api.request(`/v1/contacts/${segment}`);
      expectProblem(res, 414, 'URI_TOO_LONG');
      expectSecurityHeaders(res);
      expect(res.body).not.toContain(segment);
      await t.api.requestLog(res.headers['x-request-id'] as string);
    });

    it('leaves a long segment under the limit to the route: its guard answers, not the router', async () => {
      const res = await t.api.request(`/v1/contacts/${'a'.repeat(500)}`);
      // Authentication comes first: without credentials, no word on the id.
      expectProblem(res, 401, 'UNAUTHORIZED');
    });
  });

  describe('request bodies', () => {
    // The body rules run before routing and authentication, so an unknown POST route shows them
    // just as well, and a body that passes them reaches the 404.
    const json = { 'Content-Type': 'application/json' };

    it('accepts a small JSON body (and then finds no route)', async () => {
      const res = await t.api.request('/v1/no-such-route', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ firstName: 'Ada' }),
      });
      expectProblem(res, 404, 'NOT_FOUND');
    });

    it('refuses a body over 256 KiB with 413', async () => {
      const body = JSON.stringify({ notes: 'x'.repeat(256 * 1024) });
      const res = await t.api.request('/v1/contacts', { method: 'POST', headers: json, body });
      expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(res.json()).toMatchObject({
        detail: 'The request body is larger than the limit of 256 KiB.',
      });
      expectSecurityHeaders(res);
    });

    it('accepts a body just under the limit', async () => {
      const body = JSON.stringify({ notes: 'x'.repeat(256 * 1024 - 100) });
      const res = await t.api.request('/v1/no-such-route', { method: 'POST', headers: json, body });
      expect(res.status).toBe(404); // past the parser
    });

    it.each([
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'firstName=Ada'],
      ['application/xml', '<contact/>'],
    ])('refuses a %s body with 415', async (contentType, body) => {
      const res = await t.api.request('/v1/contacts', {
        method: 'POST',
        headers: { 'Content-Type': contentType },
        body,
      });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectSecurityHeaders(res);
    });

    it('refuses a body without a Content-Type with 415', async () => {
      const res = await t.api.request('/v1/contacts', { method: 'POST', body: '{"a":1}' });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('refuses JSON in another charset with 415', async () => {
      const res = await t.api.request('/v1/contacts', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=latin1' },
        body: '{"a":1}',
      });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('refuses a compressed body with 415', async () => {
      const res = await t.api.request('/v1/contacts', {
        method: 'POST',
        headers: { ...json, 'Content-Encoding': 'gzip' },
        body: Buffer.from([0x1f, 0x8b, 0x08, 0x00]),
      });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
      const res = await t.api.request('/v1/contacts', {
        method: 'POST',
        headers: json,
        body: '{"firstName": ',
      });
      expectProblem(res, 400, 'MALFORMED_JSON');
    });

    it('lets a POST without a body through to routing', async () => {
      const res = await t.api.request('/v1/no-such-route', {
        method: 'POST',
        headers: { 'Content-Length': '0' },
      });
      expectProblem(res, 404, 'NOT_FOUND');
    });
  });

  it('sends the security headers and no X-Powered-By on a success too', async () => {
    const res = await t.api.request('/health/live');
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
  });

  it('gives a plain-HTTP request to the HTTPS port no HTTP answer at all', async () => {
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(t.api.port, '127.0.0.1', () => {
        socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      });
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error: NodeJS.ErrnoException) =>
        error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks)) : reject(error),
      );
      // The server ends the connection after the failed handshake; no timer needed.
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    const text = received.toString('latin1');
    expect(text).not.toMatch(/^HTTP\//);
    expect(text).not.toContain('"status"');
  });
});
