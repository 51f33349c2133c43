import type { KeyObject } from 'node:crypto';
import jwt, { type JwtPayload, type VerifyOptions } from 'jsonwebtoken';

interface Entry {
  readonly key: KeyObject;
  readonly payload: JwtPayload;
  readonly expiresAtMs: number;
}

/**
 * Tokens whose signature has been verified, until they expire. An ECDSA verification costs the
 * API more than the rest of a small request; a client sends the same token many times in its 15
 * minutes. Only the signature check is remembered: the key must still be the one the token's kid
 * names now (a key that stopped verifying misses), and the member's status, role and session are
 * read from the database on every request regardless. Bounded: the oldest entry goes first.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(token: string, key: KeyObject): JwtPayload | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.key !== key || this.now() >= entry.expiresAtMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.payload;
  }

  remember(token: string, key: KeyObject, payload: JwtPayload): void {
    if (typeof payload.exp !== 'number') return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { key, payload, expiresAtMs: payload.exp * 1000 });
  }

  /**
   * A verifier with jsonwebtoken's `verify(token, key, options, callback)` shape that answers from
   * the cache when it can and remembers what it verified. Options are the caller's, fixed for the
   * cache's life (one cache per verifier configuration).
   */
  verifier(): (
    token: string,
    key: KeyObject,
    options: VerifyOptions,
    callback: (error: Error | null, payload?: JwtPayload) => void,
  ) => void {
    return (token, key, options, callback) => {
      const cached = this.get(token, key);
      if (cached) return callback(null, cached);
      let payload: JwtPayload;
      try {
        const verified = jwt.verify(token, key, { ...options, complete: false });
        if (typeof verified === 'string') throw new Error('Not a JSON payload');
        payload = verified;
      } catch (error) {
        return callback(error instanceof Error ? error : new Error(String(error)));
      }
      this.remember(token, key, payload);
      callback(null, payload);
    };
  }
}
