import {
  decodeRequestLogCursor,
  encodeRequestLogCursor,
  requestLogCursorScope,
} from './request-log-query';
import { normaliseClientIp, uuidOrUndefined } from './request-log-entry';

const ORG = '0b9d6f4e-6c1e-4d8e-9a55-3f0f1e2d3c4b';
const OTHER_ORG = '7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f';
const position = { at: '2026-03-01T10:11:12.345678Z', id: '42' };

describe('request log cursors', () => {
  it('round-trip for the same organisation and filters, whatever the page size', () => {
    const scope = requestLogCursorScope(ORG, { status: 401, from: new Date('2026-03-01') });
    const cursor = encodeRequestLogCursor(position, scope);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(ORG);
    expect(
      decodeRequestLogCursor(
        cursor,
        requestLogCursorScope(ORG, { status: 401, from: new Date('2026-03-01T00:00:00Z') }),
      ),
    ).toEqual(position);
  });

  it('refuse a cursor of another organisation or of another filter set', () => {
    const cursor = encodeRequestLogCursor(position, requestLogCursorScope(ORG, { status: 401 }));
    for (const [organisationId, filter] of [
      [OTHER_ORG, { status: 401 }],
      [ORG, {}],
      [ORG, { status: 403 }],
      [ORG, { status: 401, ip: '192.0.2.1' }],
      [ORG, { status: 401, userId: OTHER_ORG }],
      [ORG, { status: 401, to: new Date() }],
    ] as const) {
      expect(decodeRequestLogCursor(cursor, requestLogCursorScope(organisationId, filter))).toBe(
        'other-query',
      );
    }
  });

  it('call anything not made by encode malformed', () => {
    const scope = requestLogCursorScope(ORG, {});
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const cursor of [
      '',
      'not a cursor!',
      'x'.repeat(400),
      Buffer.from('not json').toString('base64url'),
      forge(null),
      forge({ a: position.at, i: 42, s: scope }),
      forge({ a: '2026-03-01', i: '42', s: scope }),
      forge({ a: position.at, i: '1; DROP TABLE request_log', s: scope }),
      forge({ a: position.at, i: '0', s: scope }),
    ]) {
      expect(decodeRequestLogCursor(cursor, scope)).toBe('malformed');
    }
  });
});

describe('request log values', () => {
  it('keep only addresses PostgreSQL takes, IPv4-mapped IPv6 as IPv4', () => {
    expect(normaliseClientIp('203.0.113.9')).toBe('203.0.113.9');
    expect(normaliseClientIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normaliseClientIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(normaliseClientIp('unknown')).toBeUndefined();
    expect(normaliseClientIp(undefined)).toBeUndefined();
  });

  it('keep only UUIDs, in lower case', () => {
    expect(uuidOrUndefined(ORG.toUpperCase())).toBe(ORG);
    expect(uuidOrUndefined('system')).toBeUndefined();
  });
});
