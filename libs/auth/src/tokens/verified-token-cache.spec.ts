import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import jwt, { type JwtPayload } from 'jsonwebtoken';
import { generateSigningKey } from '../signing-keys/signing-key';
import { ACCESS_TOKEN_VERIFY_OPTIONS, signAccessToken } from './access-token';
import { VerifiedTokenCache } from './verified-token-cache';

describe('VerifiedTokenCache', () => {
  const key = generateSigningKey();
  const publicKey = createPublicKey({ key: key.publicJwk, format: 'jwk' });
  const token = signAccessToken(
    { keyId: key.keyId, privateKey: createPrivateKey(key.privateKeyPem) },
    { userId: randomUUID(), organisationId: randomUUID(), sessionId: randomUUID() },
  ).accessToken;
  const verify = (cache: VerifiedTokenCache, t: string, k = publicKey) =>
    new Promise<JwtPayload | Error>((resolve) =>
      cache.verifier()(t, k, ACCESS_TOKEN_VERIFY_OPTIONS, (error, payload) =>
        resolve(error ?? payload!),
      ),
    );

  it('verifies once, then answers from memory until the token expires', async () => {
    let now = Date.now();
    const cache = new VerifiedTokenCache(10, () => now);
    const spy = jest.spyOn(jwt, 'verify');
    try {
      await expect(verify(cache, token)).resolves.toMatchObject({ iss: 'beecastle' });
      await expect(verify(cache, token)).resolves.toMatchObject({ iss: 'beecastle' });
      expect(spy).toHaveBeenCalledTimes(1);
      now += 16 * 60 * 1000;
      expect(cache.get(token, publicKey)).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
  });

  it('never remembers a refusal, and misses when the kid now names another key', async () => {
    const cache = new VerifiedTokenCache();
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${p}x.${s}`;
    await expect(verify(cache, tampered)).resolves.toBeInstanceOf(Error);
    await expect(verify(cache, tampered)).resolves.toBeInstanceOf(Error);
    await verify(cache, token);
    const other = createPublicKey({ key: generateSigningKey().publicJwk, format: 'jwk' });
    expect(cache.get(token, other)).toBeUndefined();
    await expect(verify(cache, token, other)).resolves.toBeInstanceOf(Error);
  });

  it('stays within its bound', async () => {
    const cache = new VerifiedTokenCache(1);
    const second = jwt.sign(
      { ...(jwt.decode(token) as object), jti: randomUUID() },
      createPrivateKey(key.privateKeyPem),
      {
        algorithm: 'ES256',
        keyid: key.keyId,
      },
    );
    await verify(cache, token);
    await verify(cache, second);
    expect(cache.get(token, publicKey)).toBeUndefined();
    expect(cache.get(second, publicKey)).toBeDefined();
  });
});
