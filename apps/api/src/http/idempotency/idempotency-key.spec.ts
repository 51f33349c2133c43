import { ProblemException } from '../problem.exception';
import {
  canonicalJson,
  type IdempotentRequest,
  parseIdempotencyKey,
  requestFingerprint,
} from './idempotency-key';

describe('parseIdempotencyKey', () => {
  it.each([
    ['one character', 'a'],
    ['punctuation', 'order-2026-01-31/42'],
    ['a UUID', '7d9f1c1e-5b8a-4c1e-9f0a-2b3c4d5e6f70'],
    ['255 characters', 'x'.repeat(255)],
    ['the ends of the range', '!~'],
  ])('accepts %s', (_what, key) => {
    expect(parseIdempotencyKey(key)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(256)],
    ['a space', 'two words'],
    ['a tab', 'a\tb'],
    ['non-ASCII', 'clé'],
    ['a control character', 'a\u0000b'],
    ['sent twice (joined)', 'a, b'],
  ])('refuses a key with %s: 400 naming the header', (_what, key) => {
    expect(() => parseIdempotencyKey(key)).toThrow(ProblemException);
    try {
      parseIdempotencyKey(key);
    } catch (error) {
      expect(error).toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
        extensions: { fields: ['Idempotency-Key'] },
      });
    }
  });

  it('refuses a header given as a list', () => {
    expect(() => parseIdempotencyKey(['a', 'b'])).toThrow(ProblemException);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [{ y: true, x: null }, 'z', 2.5], c: { e: {}, d: [] } })).toBe(
      '{"a":[{"x":null,"y":true},"z",2.5],"b":1,"c":{"d":[],"e":{}}}',
    );
  });

  it('is the same for the same value however it was written', () => {
    const one = JSON.parse(
      '{"name": "Ada", "tags": ["x", "y"], "address": {"city": "Leeds", "country": "GB"}}',
    );
    const two = JSON.parse(
      '{"address":{"country":"GB","city":"Leeds"},"tags":["x","y"],"name":"Ada"}',
    );
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('tells apart values that differ only in type or nesting', () => {
    const forms = [{ a: 1 }, { a: '1' }, { a: [1] }, [{ a: 1 }], { a: null }, {}, [], '', null];
    expect(new Set(forms.map(canonicalJson)).size).toBe(forms.length);
    expect(canonicalJson(undefined)).toBe('');
  });

  it('escapes strings and keys, and treats __proto__ as a key like any other', () => {
    const value = JSON.parse('{"__proto__": {"admin": true}, "q\\"uote": "line\\nbreak"}');
    expect(canonicalJson(value)).toBe('{"__proto__":{"admin":true},"q\\"uote":"line\\nbreak"}');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('handles nesting deeper than the call stack would allow', () => {
    const depth = 200_000;
    const value = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
    expect(canonicalJson(value)).toHaveLength(2 * depth);
  });
});

describe('requestFingerprint', () => {
  const base: IdempotentRequest = {
    method: 'POST',
    path: '/v1/contacts',
    actor: 'user:5f0c8a4e-2d3b-4c1a-9e7f-6a5b4c3d2e1f',
    ifMatch: undefined,
    body: { firstName: 'Ada', lastName: 'Lovelace' },
  };

  it('is a SHA-256, equal for the same request with its body keys in another order', () => {
    const fingerprint = requestFingerprint(base);
    expect(fingerprint).toHaveLength(32);
    expect(
      requestFingerprint({ ...base, body: { lastName: 'Lovelace', firstName: 'Ada' } }),
    ).toEqual(fingerprint);
    expect(requestFingerprint({ ...base, method: 'post' })).toEqual(fingerprint);
  });

  it.each<[string, Partial<IdempotentRequest>]>([
    ['method', { method: 'PATCH' }],
    ['path', { path: '/v1/contacts?x=1' }],
    ['actor', { actor: 'api_key:5f0c8a4e-2d3b-4c1a-9e7f-6a5b4c3d2e1f' }],
    ['If-Match', { ifMatch: '"3"' }],
    ['body', { body: { firstName: 'Ada', lastName: 'Byron' } }],
    ['body (none at all)', { body: undefined }],
  ])('differs when the %s differs', (_what, change) => {
    expect(requestFingerprint({ ...base, ...change })).not.toEqual(requestFingerprint(base));
  });

  it('cannot be made equal by moving text between the parts', () => {
    const a = requestFingerprint({ ...base, path: '/v1/a', body: 'b' });
    const b = requestFingerprint({ ...base, path: '/v1/', body: 'ab' });
    expect(a).not.toEqual(b);
  });
});
