import {
  randomBytes,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';

/**
 * Passwords are hashed with scrypt (memory-hard), a 16-byte random salt per hash, and parameters
 * stored beside the hash so they can be raised later without invalidating old ones:
 *   scrypt$<log2 N>$<r>$<p>$<salt, base64url>$<hash, base64url>
 * Defaults: N = 2^15, r = 8, p = 1 (32 MiB and ~50–100 ms a hash on one core), 32-byte output.
 */
export interface ScryptParameters {
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParameters = { log2N: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, params: ScryptParameters): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.log2N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.r * 2 ** params.log2N + 1024 * 1024,
  };
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(
  password: string,
  params: ScryptParameters = DEFAULT_SCRYPT,
): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, params);
  return [
    'scrypt',
    params.log2N,
    params.r,
    params.p,
    salt.toString('base64url'),
    hash.toString('base64url'),
  ].join('$');
}

const ENCODED =
  /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{32,})$/;

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const match = ENCODED.exec(encoded);
  if (!match) return false;
  const params = { log2N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const expected = Buffer.from(match[5], 'base64url');
  const actual = await scrypt(password, Buffer.from(match[4], 'base64url'), params);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of nothing anyone knows: checked against when the user does not exist, so that an
 * unknown email costs the same time as a wrong password. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(24).toString('base64url'));
  return decoy;
}

export function needsRehash(encoded: string, params: ScryptParameters = DEFAULT_SCRYPT): boolean {
  const match = ENCODED.exec(encoded);
  return (
    !match ||
    Number(match[1]) < params.log2N ||
    Number(match[2]) < params.r ||
    Number(match[3]) < params.p
  );
}
