import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { AUTH_SETTINGS } from '@beecastle/config';
import jwt from 'jsonwebtoken';
import { generateSigningKey } from '../signing-keys/signing-key';
import { signAccessToken, verifyAccessToken, type AccessTokenSubject } from './access-token';

describe('access tokens', () => {
  const key = generateSigningKey();
  const privateKey = createPrivateKey(key.privateKeyPem);
  const publicKey = createPublicKey({ key: key.publicJwk, format: 'jwk' });
  const keys = new Map<string, KeyObject>([[key.keyId, publicKey]]);
  const keyFor = (kid: string) => Promise.resolve(keys.get(kid));
  const subject: AccessTokenSubject = {
    userId: randomUUID(),
    organisationId: randomUUID(),
    sessionId: randomUUID(),
  };
  const signed = () => signAccessToken({ keyId: key.keyId, privateKey }, subject).accessToken;
  const now = () => Math.floor(Date.now() / 1000);
  /** A token with these claims and header, signed ES256 by the real key unless told otherwise. */
  const forge = (
    claims: Record<string, unknown>,
    options: jwt.SignOptions = {},
    secret: jwt.Secret = privateKey,
  ) => {
    const payload: Record<string, unknown> = {
      iss: AUTH_SETTINGS.issuer,
      aud: AUTH_SETTINGS.audience,
      sub: subject.userId,
      org: subject.organisationId,
      sid: subject.sessionId,
      jti: randomUUID(),
      iat: now(),
      exp: now() + 60,
      ...claims,
    };
    // A claim given as undefined is left out altogether.
    for (const [name, value] of Object.entries(payload))
      if (value === undefined) delete payload[name];
    return jwt.sign(payload, secret, { algorithm: 'ES256', keyid: key.keyId, ...options });
  };

  it('carries kid and ES256 in its header and every claim, valid for 15 minutes', async () => {
    const token = signed();
    const decoded = jwt.decode(token, { complete: true });
    expect(decoded?.header).toMatchObject({ alg: 'ES256', kid: key.keyId, typ: 'JWT' });
    const claims = await verifyAccessToken(token, keyFor);
    expect(claims).toMatchObject({
      iss: 'beecastle',
      aud: 'beecastle-api',
      sub: subject.userId,
      org: subject.organisationId,
      sid: subject.sessionId,
    });
    expect(claims!.exp - claims!.iat).toBe(15 * 60);
    expect(claims!.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts a well-formed forged-by-us token (the control for the refusals below)', async () => {
    await expect(verifyAccessToken(forge({}), keyFor)).resolves.toBeDefined();
  });

  it('refuses HS256 keyed with the public key (algorithm confusion)', async () => {
    const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const forged = jwt.sign(
      {
        iss: AUTH_SETTINGS.issuer,
        aud: AUTH_SETTINGS.audience,
        sub: subject.userId,
        org: subject.organisationId,
        sid: subject.sessionId,
        jti: randomUUID(),
        exp: now() + 60,
      },
      publicPem,
      // jsonwebtoken refuses to sign HS256 with something that looks like a PEM key unless asked.
      { algorithm: 'HS256', keyid: key.keyId, allowInsecureKeySizes: true },
    );
    await expect(verifyAccessToken(forged, keyFor)).resolves.toBeUndefined();
  });

  it('refuses alg none', async () => {
    const [, payload] = forge({}).split('.');
    const header = Buffer.from(
      JSON.stringify({ alg: 'none', typ: 'JWT', kid: key.keyId }),
    ).toString('base64url');
    await expect(verifyAccessToken(`${header}.${payload}.`, keyFor)).resolves.toBeUndefined();
  });

  it('refuses an expired token', async () => {
    const expired = forge({ iat: now() - 1000, exp: now() - 100 });
    await expect(verifyAccessToken(expired, keyFor)).resolves.toBeUndefined();
  });

  it('refuses a token without exp', async () => {
    const forever = forge({ exp: undefined });
    expect(jwt.decode(forever)).not.toHaveProperty('exp');
    await expect(verifyAccessToken(forever, keyFor)).resolves.toBeUndefined();
  });

  it('refuses a token its signer gave a longer life than an access token has', async () => {
    await expect(
      verifyAccessToken(forge({ exp: now() + 86_400 }), keyFor),
    ).resolves.toBeUndefined();
  });

  it('refuses a tampered payload', async () => {
    const [header, , signature] = signed().split('.');
    const other = Buffer.from(
      JSON.stringify({ ...(jwt.decode(signed()) as object), org: randomUUID() }),
    ).toString('base64url');
    await expect(
      verifyAccessToken(`${header}.${other}.${signature}`, keyFor),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['audience', { aud: 'someone-else' }],
    ['issuer', { iss: 'https://evil.example' }],
    ['subject', { sub: 'not-a-uuid' }],
    ['organisation', { org: undefined }],
    ['session', { sid: 42 }],
  ])('refuses a wrong or missing %s', async (_what, claims) => {
    await expect(verifyAccessToken(forge(claims), keyFor)).resolves.toBeUndefined();
  });

  it('refuses an unknown kid, and a token signed by another key under our kid', async () => {
    await expect(
      verifyAccessToken(forge({}, { keyid: randomUUID() }), keyFor),
    ).resolves.toBeUndefined();
    const stranger = createPrivateKey(generateSigningKey().privateKeyPem);
    await expect(verifyAccessToken(forge({}, {}, stranger), keyFor)).resolves.toBeUndefined();
  });
});
