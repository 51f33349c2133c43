import { createHash } from 'node:crypto';
import { KEY_BYTES, open, seal } from './aes-gcm';

/**
 * The root of the key hierarchy: it wraps (encrypts) organisation keys and never leaves its
 * provider. This is the port a KMS plugs into: an implementation backed by AWS KMS, Google Cloud
 * KMS, Azure Key Vault or Vault Transit maps `wrap` to the service's Encrypt call and `unwrap` to
 * Decrypt, passing `context` as the encryption context / additional authenticated data, so the
 * master key itself is never in this process. Rules for an implementation:
 * - `keyId` is stable for the key and distinct between keys (a fingerprint, or the KMS key's ARN
 *   or version name); it is stored beside every wrap so that rotation knows what is left to do.
 * - `unwrap` must fail (throw) unless `wrapped` came from `wrap` of the same key with the same
 *   `context`; it must never return other bytes.
 * - Both may be slow (a network call): the keyring calls them once per organisation key and caches.
 */
export interface MasterKeyProvider {
  readonly keyId: string;
  /** Human-readable, for start-up lines: never the key. */
  readonly description: string;
  wrap(plaintextKey: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
}

/** A public name for a 256-bit key: a hash, safe to store and print, that identifies it. */
export function masterKeyFingerprint(key: Uint8Array): string {
  return `local:${createHash('sha256').update('beecastle master key id\u0000').update(key).digest('hex').slice(0, 32)}`;
}

/** A master key held in memory (from MASTER_KEY or the development key file): AES-256-GCM wraps. */
export class LocalMasterKeyProvider implements MasterKeyProvider {
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(
    key: Uint8Array,
    readonly description: string,
  ) {
    if (key.length !== KEY_BYTES) throw new Error(`A master key is ${KEY_BYTES} bytes`);
    this.key = Buffer.from(key);
    this.keyId = masterKeyFingerprint(this.key);
  }

  wrap(plaintextKey: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(seal(this.key, plaintextKey, context));
  }

  // A wrap that does not open rejects, as a KMS call would, rather than throws.
  unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve) => resolve(open(this.key, wrapped, context)));
  }
}
