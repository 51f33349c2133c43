import { randomUUID, type KeyObject } from 'node:crypto';
import { AUTH_SETTINGS } from '@beecastle/config';
import jwt from 'jsonwebtoken';
import type { ActiveSigningKey } from '../signing-keys/signing-key-store';

/** What an access token says: who (sub), in which organisation (org), under which session (sid). */
export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string;
  readonly sub: string;
  readonly org: string;
  readonly sid: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

export interface AccessTokenSubject {
  readonly userId: string;
  readonly organisationId: string;
  readonly sessionId: string;
}

export interface IssuedAccessToken {
  readonly accessToken: string;
  /** Seconds. */
  readonly expiresIn: number;
}

/**
 * Verification pins everything an attacker could otherwise choose: the algorithm (so neither
 * `none` nor an HMAC keyed with the public key passes), the issuer and the audience. `exp` is
 * required separately (accessTokenClaims), because jsonwebtoken accepts a token without one.
 */
export const ACCESS_TOKEN_VERIFY_OPTIONS: {
  readonly algorithms: ['ES256'];
  readonly issuer: string;
  readonly audience: string;
} = {
  algorithms: ['ES256'],
  issuer: AUTH_SETTINGS.issuer,
  audience: AUTH_SETTINGS.audience,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;

export function signAccessToken(
  key: ActiveSigningKey,
  subject: AccessTokenSubject,
  ttlSeconds: number = AUTH_SETTINGS.accessTokenTtlSeconds,
): IssuedAccessToken {
  const accessToken = jwt.sign(
    { org: subject.organisationId, sid: subject.sessionId },
    key.privateKey,
    {
      algorithm: 'ES256',
      keyid: key.keyId,
      issuer: AUTH_SETTINGS.issuer,
      audience: AUTH_SETTINGS.audience,
      subject: subject.userId,
      jwtid: randomUUID(),
      expiresIn: ttlSeconds,
    },
  );
  return { accessToken, expiresIn: ttlSeconds };
}

/** The `kid` in a token's header, read before anything is verified (to pick the key). */
export function accessTokenKeyId(token: string): string | undefined {
  const decoded = jwt.decode(token, { complete: true });
  const kid = decoded?.header.kid;
  return typeof kid === 'string' && UUID.test(kid) ? kid : undefined;
}

/**
 * The claims of a payload whose signature, algorithm, issuer, audience and expiry jsonwebtoken has
 * checked; undefined unless every claim is present and well formed. A token must not outlive the
 * access-token lifetime (plus a minute's skew) even if its signer said so.
 */
export function accessTokenClaims(payload: unknown): AccessTokenClaims | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  const { iss, aud, sub, org, sid, jti, iat, exp } = p;
  if (typeof exp !== 'number' || typeof iat !== 'number') return undefined;
  if (exp - iat > AUTH_SETTINGS.accessTokenTtlSeconds + 60) return undefined;
  if (iss !== AUTH_SETTINGS.issuer || aud !== AUTH_SETTINGS.audience) return undefined;
  for (const id of [sub, org, sid, jti]) {
    if (typeof id !== 'string' || !UUID.test(id)) return undefined;
  }
  return p as unknown as AccessTokenClaims;
}

/**
 * Verifies a token end to end (what the passport-jwt strategy does with the same options), for
 * callers outside the guard chain and for tests. Undefined for any token that must be refused.
 */
export async function verifyAccessToken(
  token: string,
  keyFor: (keyId: string) => Promise<KeyObject | undefined>,
): Promise<AccessTokenClaims | undefined> {
  const keyId = accessTokenKeyId(token);
  if (!keyId) return undefined;
  const key = await keyFor(keyId);
  if (!key) return undefined;
  try {
    return accessTokenClaims(jwt.verify(token, key, ACCESS_TOKEN_VERIFY_OPTIONS));
  } catch {
    return undefined;
  }
}
