import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { acceptRequestId, echoRequestId, requestIdFor } from './request-id';

describe('acceptRequestId', () => {
  it.each([
    ['a UUID', '3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60', '3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60'],
    [
      'an upper-case UUID, lower-cased',
      '3F1C2B7E-9A4D-4C1E-8F2A-1B2C3D4E5F60',
      '3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60',
    ],
    ['a short token', 'gw_01HZX3K9Q2', 'gw_01HZX3K9Q2'],
    ['a token with surrounding spaces', '  abcdefgh  ', 'abcdefgh'],
  ])('accepts %s', (_name, header, expected) => {
    expect(acceptRequestId(header)).toBe(expected);
  });

  it.each([
    ['nothing', undefined],
    ['an empty header', ''],
    ['a token shorter than 8 characters', 'abc'],
    ['a token longer than 64 characters', 'a'.repeat(65)],
    ['a line break (log forging)', 'abcdefgh\n{"level":"fatal"}'],
    ['markup', '<script>alert(1)</script>'],
    ['spaces inside', 'abcd efgh'],
    ['a header sent twice', ['3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60', 'abcdefgh']],
  ])('refuses %s', (_name, header) => {
    expect(acceptRequestId(header)).toBeUndefined();
  });
});

describe('requestIdFor and echoRequestId', () => {
  /** Fastify's genReqId, then the first request hook, on real Node request/response objects. */
  function run(header?: string): { id: unknown; responseHeader: unknown; doneCalled: boolean } {
    const raw = new IncomingMessage(new Socket());
    raw.headers = header === undefined ? {} : { 'x-request-id': header };
    const id = requestIdFor(raw);
    const res = new ServerResponse(raw);
    let doneCalled = false;
    echoRequestId({ id }, { raw: res }, () => (doneCalled = true));
    return { id, responseHeader: res.getHeader('x-request-id'), doneCalled };
  }

  it('keeps a well-formed incoming id and echoes it', () => {
    expect(run('gw_01HZX3K9Q2')).toEqual({
      id: 'gw_01HZX3K9Q2',
      responseHeader: 'gw_01HZX3K9Q2',
      doneCalled: true,
    });
  });

  it('replaces a malformed one with a fresh UUID', () => {
    const { id, responseHeader } = run('bad id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(responseHeader).toBe(id);
  });

  it('gives each request its own id', () => {
    expect(run().id).not.toBe(run().id);
  });
});
