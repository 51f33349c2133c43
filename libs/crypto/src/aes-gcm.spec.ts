import { randomBytes } from 'node:crypto';
import {
  AuthenticationFailedError,
  NONCE_BYTES,
  TAG_BYTES,
  associatedData,
  open,
  randomKey,
  seal,
} from './aes-gcm';

describe('AES-256-GCM seal and open', () => {
  const key = randomBytes(32);
  const context = associatedData('test', 'org', 1);
  const plaintext = Buffer.from('Ada Lovelace <ada@example.test>', 'utf8');

  it('opens what it sealed, with a fresh nonce each time', () => {
    const first = seal(key, plaintext, context);
    const second = seal(key, plaintext, context);
    expect(first.length).toBe(NONCE_BYTES + plaintext.length + TAG_BYTES);
    expect(first.subarray(0, NONCE_BYTES).equals(second.subarray(0, NONCE_BYTES))).toBe(false);
    expect(first.equals(second)).toBe(false);
    expect(open(key, first, context)).toEqual(plaintext);
    expect(first.includes(plaintext)).toBe(false);
  });

  it('never hands out the same nonce or key twice, across refills of its random pool', () => {
    // A 4 KiB pool holds about 340 nonces: this crosses it many times, keys interleaved.
    const nonces = new Set<string>();
    const keys = new Set<string>();
    for (let i = 0; i < 3_000; i += 1) {
      nonces.add(seal(key, plaintext, context).subarray(0, NONCE_BYTES).toString('hex'));
      const fresh = randomKey();
      expect(fresh).toHaveLength(32);
      keys.add(fresh.toString('hex'));
    }
    expect(nonces.size).toBe(3_000);
    expect(keys.size).toBe(3_000);
    // Handed out as copies: what the pool wipes behind it is not the caller's key.
    expect([...keys].some((k) => /^(00)+$/.test(k))).toBe(false);
  });

  it('refuses another key, other associated data, and any changed byte', () => {
    const sealed = seal(key, plaintext, context);
    expect(() => open(randomBytes(32), sealed, context)).toThrow(AuthenticationFailedError);
    expect(() => open(key, sealed, associatedData('test', 'org', 2))).toThrow(
      AuthenticationFailedError,
    );
    for (const index of [0, NONCE_BYTES, sealed.length - 1]) {
      const changed = Buffer.from(sealed);
      changed[index] ^= 0x01;
      expect(() => open(key, changed, context)).toThrow(AuthenticationFailedError);
    }
    expect(() => open(key, sealed.subarray(0, 20), context)).toThrow(AuthenticationFailedError);
  });

  it('keeps associated data fields apart (no two lists join to the same bytes)', () => {
    expect(associatedData('ab', 'c').equals(associatedData('a', 'bc'))).toBe(false);
  });

  it('takes 32-byte keys only', () => {
    expect(() => seal(randomBytes(16), plaintext, context)).toThrow(/32 bytes/);
  });
});
