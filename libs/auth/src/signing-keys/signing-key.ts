import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { randomUUID } from 'node:crypto';

export const SIGNING_ALGORITHM = 'ES256';

/** A public key as the JWKS publishes it. */
export interface PublicSigningJwk extends JsonWebKey {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: typeof SIGNING_ALGORITHM;
  readonly use: 'sig';
}

export interface NewSigningKey {
  readonly keyId: string;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  readonly publicJwk: PublicSigningJwk;
}

/** A fresh P-256 key pair for ES256, its id the JWK `kid` that tokens name in their header. */
export function generateSigningKey(): NewSigningKey {
  const keyId = randomUUID();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) {
    throw new Error('Unexpected public key shape');
  }
  return {
    keyId,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk: {
      kty: 'EC',
      crv: 'P-256',
      x: jwk.x,
      y: jwk.y,
      kid: keyId,
      alg: SIGNING_ALGORITHM,
      use: 'sig',
    },
  };
}
