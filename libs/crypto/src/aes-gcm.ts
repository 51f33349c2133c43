import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM: 32-byte keys, a fresh random 12-byte nonce per message, 16-byte tags. */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** Opening failed: wrong key, wrong associated data, or bytes changed. Says nothing more, by design. */
export class AuthenticationFailedError extends Error {
  constructor() {
    super('The ciphertext does not open with this key and associated data');
    this.name = 'AuthenticationFailedError';
  }
}

// Randomness is drawn from the CSPRNG 4 KiB at a time and each byte handed out once (as Node's
// randomUUID caches its entropy): a call per nonce or key cost about 3.5 µs, more than sealing a
// key itself, and an append of a new contact needs three (its key, the key's wrap, the payload).
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** `length` (≤ 4 KiB) fresh random bytes, never handed out before. */
function freshRandomBytes(length: number): Buffer {
  if (poolOffset + length > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + length));
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return bytes;
}

/** A fresh random AES-256 key. */
export function randomKey(): Buffer {
  return freshRandomBytes(KEY_BYTES);
}

/**
 * Encrypts and authenticates `plaintext`, binding `associatedData` (which is not stored: the
 * opener must present the same bytes). Output: nonce ‖ ciphertext ‖ tag.
 */
export function seal(key: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Buffer {
  if (key.length !== KEY_BYTES) throw new Error(`An AES-256-GCM key is ${KEY_BYTES} bytes`);
  const nonce = freshRandomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([nonce, head, tail, cipher.getAuthTag()]);
}

/** The inverse of `seal`; throws AuthenticationFailedError rather than return unauthenticated bytes. */
export function open(key: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Buffer {
  if (key.length !== KEY_BYTES) throw new Error(`An AES-256-GCM key is ${KEY_BYTES} bytes`);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new AuthenticationFailedError();
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = bytes.subarray(0, NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData);
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const tail = decipher.final();
    // GCM's final() returns nothing: no copy into a new buffer for every payload of a read.
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    throw new AuthenticationFailedError();
  }
}

/** Associated data as fields joined by NUL: none of ours can contain one, so no two lists collide. */
export function associatedData(...fields: readonly (string | number)[]): Buffer {
  return Buffer.from(associatedDataText(...fields), 'utf8');
}

/**
 * The same associated data before its UTF-8 encoding, for ThreadedDecryption, which encodes it
 * straight into the buffer it sends (a cold read builds one per event).
 */
export function associatedDataText(...fields: readonly (string | number)[]): string {
  return fields.join('\u0000');
}
