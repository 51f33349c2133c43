import { createHash, randomBytes } from 'node:crypto';

/**
 * A refresh token is `bcr_` + base64url(organisation id ‖ 32 random bytes): opaque to clients, and
 * carrying its organisation so that its row can be found under that organisation's row-level
 * security. Only SHA-256 of the whole token is stored.
 */
const PREFIX = 'bcr_';
const RANDOM_BYTES = 32;
const ENCODED_LENGTH = PREFIX.length + Math.ceil(((16 + RANDOM_BYTES) * 4) / 3);

export interface IssuedRefreshToken {
  readonly refreshToken: string;
  readonly tokenHash: Buffer;
}

export interface ParsedRefreshToken {
  readonly organisationId: string;
  readonly tokenHash: Buffer;
}

export function issueRefreshToken(organisationId: string): IssuedRefreshToken {
  const raw = Buffer.concat([
    Buffer.from(organisationId.replaceAll('-', ''), 'hex'),
    randomBytes(RANDOM_BYTES),
  ]);
  if (raw.length !== 16 + RANDOM_BYTES) throw new Error('Not a UUID');
  return { refreshToken: `${PREFIX}${raw.toString('base64url')}`, tokenHash: sha256(raw) };
}

/** The token's organisation and hash, or undefined for anything not shaped like one of ours. */
export function parseRefreshToken(token: string): ParsedRefreshToken | undefined {
  if (token.length !== ENCODED_LENGTH || !token.startsWith(PREFIX)) return undefined;
  const body = token.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/u.test(body)) return undefined;
  const raw = Buffer.from(body, 'base64url');
  if (raw.length !== 16 + RANDOM_BYTES || raw.toString('base64url') !== body) return undefined;
  const hex = raw.subarray(0, 16).toString('hex');
  return {
    organisationId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    tokenHash: sha256(raw),
  };
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
