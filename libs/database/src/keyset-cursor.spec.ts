import { cursorScope, KeysetCursorCodec } from './keyset-cursor';

const ORG = '0b9d6f4e-6c1e-4d8e-9a55-3f0f1e2d3c4b';
const OTHER_ORG = '7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f';
const codec = new KeysetCursorCodec({ k: /^[\s\S]{0,20}$/u, i: /^[a-z0-9-]{1,36}$/ }, 200);
const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('keyset cursors', () => {
  const scope = cursorScope(['contacts', ORG, 'ada', null, false, 'name']);

  it('round-trip any key text for the same scope, and show neither key nor scope plainly', () => {
    for (const k of ['', 'zoë quinn', '100% "x" \\ \n', 'ﬃ']) {
      const cursor = codec.encode({ k, i: 'c-1' }, scope);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(cursor).not.toContain(ORG);
      expect(codec.decode(cursor, scope)).toEqual({ k, i: 'c-1' });
    }
  });

  it('refuse a cursor of another organisation, query name, filter or order', () => {
    const cursor = codec.encode({ k: 'ada', i: 'c-1' }, scope);
    for (const parts of [
      ['contacts', OTHER_ORG, 'ada', null, false, 'name'],
      ['interactions', ORG, 'ada', null, false, 'name'],
      ['contacts', ORG, 'ad', null, false, 'name'],
      ['contacts', ORG, 'ada', 'vip', false, 'name'],
      ['contacts', ORG, 'ada', null, true, 'name'],
      ['contacts', ORG, 'ada', null, false, '-name'],
      // A filter moved to another place is another query, not the same digest.
      ['contacts', ORG, null, 'ada', false, 'name'],
    ]) {
      expect({ parts, decoded: codec.decode(cursor, cursorScope(parts)) }).toEqual({
        parts,
        decoded: 'other-query',
      });
    }
  });

  it('call anything not made by encode, or over the length limit, malformed', () => {
    for (const cursor of [
      '',
      'not a cursor!',
      'x'.repeat(201),
      forge('text'),
      forge(null),
      forge([]),
      forge({ k: 'ada', s: scope }),
      forge({ k: 'ada', i: 42, s: scope }),
      forge({ k: 'ada', i: 'C-1; DROP TABLE contacts', s: scope }),
      forge({ k: 'x'.repeat(21), i: 'c-1', s: scope }),
      forge({ k: 'ada', i: 'c-1' }),
      forge({ k: 'ada', i: 'c-1', s: 7 }),
      Buffer.from('{"k":"ada","i":"c-1","s":').toString('base64url'),
    ]) {
      expect({ cursor, decoded: codec.decode(cursor, scope) }).toEqual({
        cursor,
        decoded: 'malformed',
      });
    }
    // Inherited properties are no position fields.
    const inherited = forge(JSON.parse('{"__proto__": {"k": "ada", "i": "c-1"}, "s": "x"}'));
    expect(codec.decode(inherited, scope)).toBe('malformed');
  });

  it('reserve the scope key for the scope', () => {
    expect(() => new KeysetCursorCodec({ s: /^x$/ })).toThrow(/may not be called s/);
  });
});
