/**
 * Authentication's numbers, in one place. They are constants rather than environment settings:
 * every API instance must agree on them (an issuer or audience that differs between instances
 * would make tokens from one unusable on another), and none of them is an operator's choice.
 */
export const AUTH_SETTINGS = {
  /** `iss` and `aud` of every access token, pinned on verification. */
  issuer: 'beecastle',
  audience: 'beecastle-api',
  accessTokenTtlSeconds: 15 * 60,
  /** A refresh token unused for this long expires; each refresh starts a new idle period. */
  refreshIdleSeconds: 14 * 24 * 60 * 60,
  /** A session ends this long after sign-in however often it is refreshed. */
  refreshAbsoluteSeconds: 30 * 24 * 60 * 60,
  signingKeys: {
    /** How often each instance reloads the key set (a rotation elsewhere reaches it within this). */
    reloadIntervalMs: 60_000,
    /** A token with an unknown kid reloads the set at most this often (no reload storms). */
    unknownKidReloadIntervalMs: 5_000,
    /** Clock skew between instances and the database, added to how long a retired key verifies. */
    clockSkewSeconds: 60,
  },
  loginThrottle: {
    /** Failed sign-ins per account (email) within the window before 429. */
    accountFailures: 10,
    /** Failed sign-ins per client IP within the window before 429 (offices share an IP). */
    ipFailures: 100,
    windowSeconds: 15 * 60,
  },
  /** `lastUsedAt` of an API key is written at most this often. */
  apiKeyUsageWriteIntervalMs: 60_000,
} as const;

/**
 * How long after its retirement a signing key must still verify: an instance may sign with it until
 * its next reload, and the last such token lives a full access-token lifetime.
 */
export function retiredKeyVerifiableSeconds(): number {
  const { accessTokenTtlSeconds, signingKeys } = AUTH_SETTINGS;
  return (
    accessTokenTtlSeconds +
    Math.ceil(signingKeys.reloadIntervalMs / 1000) +
    signingKeys.clockSkewSeconds
  );
}
