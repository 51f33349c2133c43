import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * An API key is `bck_` + base64url(organisation id ‖ key id ‖ 32 random bytes). The ids let the
 * API find the key's row under its organisation's row-level security without a global lookup
 * table; the 256 random bits are the secret. Only SHA-256 of the secret is kept: a slow hash adds
 * nothing against a 256-bit random value, and a fast one keeps every keyed request cheap.
 */
const PREFIX = 'bck_';
const SECRET_BYTES = 32;
const ENCODED_LENGTH = PREFIX.length + Math.ceil(((16 + 16 + SECRET_BYTES) * 4) / 3);

export interface IssuedApiKey {
  /** The whole key, shown to its creator once and stored nowhere. */
  readonly key: string;
  /** Hex SHA-256 of the secret part, as ApiKeyIssued records it. */
  readonly secretHash: string;
}

export interface ParsedApiKey {
  readonly organisationId: string;
  readonly apiKeyId: string;
  readonly secretHash: Buffer;
}

export function issueApiKeySecret(organisationId: string, apiKeyId: string): IssuedApiKey {
  const secret = randomBytes(SECRET_BYTES);
  const raw = Buffer.concat([uuidBytes(organisationId), uuidBytes(apiKeyId), secret]);
  return {
    key: `${PREFIX}${raw.toString('base64url')}`,
    secretHash: sha256(secret).toString('hex'),
  };
}

/** True when a bearer credential has an API key's shape (so the API-key strategy should try it). */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(PREFIX);
}

/** The key's parts, or undefined for anything that is not a well-formed key. */
export function parseApiKey(key: string): ParsedApiKey | undefined {
  if (key.length !== ENCODED_LENGTH || !key.startsWith(PREFIX)) return undefined;
  const body = key.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/u.test(body)) return undefined;
  const raw = Buffer.from(body, 'base64url');
  if (raw.length !== 32 + SECRET_BYTES || raw.toString('base64url') !== body) return undefined;
  return {
    organisationId: uuidString(raw.subarray(0, 16)),
    apiKeyId: uuidString(raw.subarray(16, 32)),
    secretHash: sha256(raw.subarray(32)),
  };
}

/** Constant-time comparison of a presented key's secret hash with the stored one. */
export function apiKeySecretMatches(presented: ParsedApiKey, storedHash: Buffer): boolean {
  return storedHash.length === 32 && timingSafeEqual(presented.secretHash, storedHash);
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function uuidBytes(uuid: string): Buffer {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u.test(uuid))
    throw new Error('Not a lower-case UUID');
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

function uuidString(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
