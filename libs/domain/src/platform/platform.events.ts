/**
 * The platform's own life, recorded like an organisation's: changes that belong to no one
 * organisation (the token signing keys every organisation's tokens share). Its stream lives under a
 * reserved organisation id that no real organisation can have (organisation ids are random v4
 * UUIDs; this one is the nil UUID).
 */
export const PLATFORM_ORGANISATION_ID = '00000000-0000-0000-0000-000000000000';

export type PlatformEvent = {
  readonly type: 'SigningKeyRotated';
  readonly schemaVersion: 1;
  readonly data: {
    /** The key now signing (its JWK `kid`). */
    readonly keyId: string;
    /** The key it replaces, which still verifies tokens until they expire; null for the first. */
    readonly previousKeyId: string | null;
    readonly algorithm: 'ES256';
  };
};

export type PlatformEventType = PlatformEvent['type'];
