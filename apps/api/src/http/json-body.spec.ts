import type { IncomingHttpHeaders } from 'node:http';
import { parseJsonBody, requireJsonBody } from './json-body';
import { ProblemException } from './problem.exception';

/** What the request hook decides for these headers: nothing (let through) or a problem. */
function decide(headers: IncomingHttpHeaders): { status: number; code: string } | 'through' {
  const outcomes: (Error | undefined)[] = [];
  requireJsonBody({ headers }, undefined, (error) => void outcomes.push(error));
  expect(outcomes).toHaveLength(1);
  const [outcome] = outcomes;
  if (outcome === undefined) return 'through';
  if (!(outcome instanceof ProblemException)) throw outcome;
  return { status: outcome.status, code: outcome.code };
}

const withBody = (headers: IncomingHttpHeaders) => ({ 'content-length': '7', ...headers });
const UNSUPPORTED = { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' };

describe('requireJsonBody', () => {
  it.each([
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['Application/JSON; Charset="UTF-8"'],
    ['application/merge-patch+json'],
    ['application/json;charset=utf8'],
  ])('lets a %s body through', (type) => {
    expect(decide(withBody({ 'content-type': type }))).toBe('through');
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['XML', { 'content-type': 'application/xml' }],
    ['no Content-Type', {}],
    ['a look-alike type', { 'content-type': 'application/jsonx' }],
    ['a +json suffix on another top-level type', { 'content-type': 'text/x+json' }],
    ['another charset', { 'content-type': 'application/json; charset=latin1' }],
    ['UTF-16', { 'content-type': 'application/json; charset=utf-16' }],
    ['a compressed body', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
  ])('refuses %s with 415', (_name, headers: IncomingHttpHeaders) => {
    expect(decide(withBody(headers))).toEqual(UNSUPPORTED);
  });

  it('refuses a chunked body that is not JSON, though it has no length', () => {
    expect(decide({ 'transfer-encoding': 'chunked', 'content-type': 'text/plain' })).toEqual(
      UNSUPPORTED,
    );
  });

  it('lets any request without a body through, whatever it says of its type', () => {
    expect(decide({})).toBe('through');
    expect(decide({ 'content-length': '0', 'content-type': 'text/plain' })).toBe('through');
  });

  it('takes identity as no encoding', () => {
    expect(
      decide(withBody({ 'content-type': 'application/json', 'content-encoding': 'identity' })),
    ).toBe('through');
  });
});

describe('parseJsonBody', () => {
  it('parses objects and lists, and takes an empty body as {}', () => {
    expect(parseJsonBody(' {"firstName":"Ada"} ')).toEqual({ firstName: 'Ada' });
    expect(parseJsonBody('[1,2]')).toEqual([1, 2]);
    expect(parseJsonBody('')).toEqual({});
  });

  it.each([['{"firstName": '], ['"just a string"'], ['42'], ['null'], ['true'], ['{]']])(
    'refuses %s as MALFORMED_JSON (400)',
    (body) => {
      let thrown: unknown;
      try {
        parseJsonBody(body);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ProblemException);
      expect(thrown).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    },
  );

  it('keeps __proto__ a plain key, for the prototype-keys pipe to refuse by name', () => {
    const parsed = parseJsonBody('{"__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });
});
