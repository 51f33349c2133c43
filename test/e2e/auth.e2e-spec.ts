import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import {
  DEFAULT_SCRYPT,
  hashPassword,
  openPrivateKey,
  rotateSigningKey,
} from '../../libs/auth/src';
import { Keyring, PostgresKeyStore } from '../../libs/crypto/src';
import { testMasterKeyProvider } from '../../libs/crypto/src/testing/test-master-key';
import { withOrganisation } from '../../libs/database/src/organisation-scope';
import { PostgresEventStore } from '../../libs/event-store/src';
import {
  FAST_SCRYPT,
  revokeApiKey,
  seedApiKey,
  seedMember,
  seedMembership,
  seedOrganisation,
  seedUser,
  updateMembership,
} from './support/identity-fixture';
import type { HttpsResponse } from './support/https-request';
import { useTestApi } from './support/test-api';

interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

/** Everything of a problem answer but its request id, which differs by design. */
function withoutRequestId(res: HttpsResponse): unknown {
  const { requestId: _requestId, ...rest } = res.json() as Record<string, unknown>;
  return rest;
}

function expectGeneric401(res: HttpsResponse): void {
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toBe('Bearer');
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(withoutRequestId(res)).toEqual({
    type: 'about:blank',
    title: 'Unauthorized',
    status: 401,
    code: 'UNAUTHORIZED',
    detail:
      'Authentication failed or is missing: send a valid access token or API key as a Bearer credential.',
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('authentication', () => {
  const t = useTestApi();

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    t.api.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const login = (body: Record<string, unknown>) => post('/v1/auth/token', body);
  const me = (credential: string) =>
    t.api.request('/v1/me', { headers: { authorization: `Bearer ${credential}` } });
  /**
   * A signing key's private half as an instance holds it: stored sealed (never in the clear,
   * asserted here), opened with the master key through the key store, as the API opens it.
   */
  const privateKeyOf = async (keyId: string): Promise<string> => {
    const { rows } = await t.db.owner.query<{
      private_key: string | null;
      sealed_private_key: Buffer;
      private_key_data_key: string;
    }>(
      `SELECT private_key, sealed_private_key, private_key_data_key FROM signing_keys
        WHERE key_id = $1`,
      [keyId],
    );
    expect(rows[0].private_key).toBeNull();
    expect(rows[0].sealed_private_key.toString('latin1')).not.toContain('PRIVATE KEY');
    const keyring = new Keyring(new PostgresKeyStore(t.db.app), testMasterKeyProvider());
    try {
      return await openPrivateKey(keyring, keyId, {
        sealed: rows[0].sealed_private_key,
        dataKeyId: rows[0].private_key_data_key,
      });
    } finally {
      await keyring.close();
    }
  };
  const signIn = async (member: { email: string; password: string }): Promise<Tokens> => {
    const res = await login({ email: member.email, password: member.password });
    expect(res.status).toBe(200);
    return res.json() as Tokens;
  };

  describe('POST /v1/auth/token', () => {
    it('answers 200 with a Bearer pair for the right password (email case and spaces ignored)', async () => {
      const member = await seedMember(t.db.app, 'editor');
      const res = await login({
        email: `  ${member.email.toUpperCase()} `,
        password: member.password,
      });
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({
        accessToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
        refreshToken: expect.stringMatching(/^bcr_/),
        tokenType: 'Bearer',
        expiresIn: 900,
      });
      const { accessToken } = res.json() as Tokens;
      expect(jwt.decode(accessToken)).toMatchObject({
        iss: 'beecastle',
        aud: 'beecastle-api',
        sub: member.userId,
        org: member.organisationId,
      });
    });

    it('answers unknown email and wrong password alike: status, body and (roughly) time', async () => {
      // Today's hash parameters, as a real account has: the decoy costs the same.
      const member = await seedMember(t.db.app, 'viewer');
      await t.db.app.query('UPDATE users SET password_hash = $2 WHERE id = $1', [
        member.userId,
        await hashPassword(member.password, DEFAULT_SCRYPT),
      ]);
      const wrong = { email: member.email, password: 'not the password at all' };
      const unknown = { email: `nobody-${randomUUID()}@example.test`, password: 'whatever it is' };
      const timings = { wrong: [] as number[], unknown: [] as number[] };
      let last: Record<string, HttpsResponse> = {};
      for (let i = 0; i < 5; i++) {
        for (const [name, body] of [
          ['wrong', wrong],
          ['unknown', unknown],
        ] as const) {
          const started = performance.now();
          last = { ...last, [name]: await login(body) };
          timings[name].push(performance.now() - started);
        }
      }
      expectGeneric401(last.wrong);
      expectGeneric401(last.unknown);
      expect(withoutRequestId(last.wrong)).toEqual(withoutRequestId(last.unknown));
      const ratio = median(timings.wrong) / median(timings.unknown);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
      // The control: a sign-in that succeeds still works after these failures.
      await signIn(member);
    });

    it('rehashes a password stored with outdated parameters on a successful sign-in', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const before = await t.db.app.query('SELECT password_hash FROM users WHERE id = $1', [
        member.userId,
      ]);
      expect(before.rows[0].password_hash).toMatch(new RegExp(`^scrypt\\$${FAST_SCRYPT.log2N}\\$`));
      await signIn(member);
      const after = await t.db.app.query('SELECT password_hash FROM users WHERE id = $1', [
        member.userId,
      ]);
      expect(after.rows[0].password_hash).toMatch(
        new RegExp(`^scrypt\\$${DEFAULT_SCRYPT.log2N}\\$`),
      );
      await signIn(member); // the new hash verifies
    });

    it('with several organisations: 400 listing them, the chosen one signs in, others answer 401', async () => {
      const user = await seedUser(t.db.app);
      const first = await seedOrganisation(t.db.app, 'Alpha');
      const second = await seedOrganisation(t.db.app, 'Beta');
      const former = await seedOrganisation(t.db.app, 'Gamma');
      const stranger = await seedOrganisation(t.db.app, 'Delta');
      await seedMembership(t.db.app, first, user, 'viewer');
      await seedMembership(t.db.app, second, user, 'admin');
      await seedMembership(t.db.app, former, user, 'owner', 'deactivated');

      const choose = await login({ email: user.email, password: user.password });
      expect(choose.status).toBe(400);
      expect(choose.json()).toMatchObject({
        code: 'ORGANISATION_REQUIRED',
        organisations: [
          { id: first, name: 'Alpha' },
          { id: second, name: 'Beta' },
        ],
      });

      const chosen = await login({
        email: user.email,
        password: user.password,
        organisationId: second,
      });
      expect(chosen.status).toBe(200);
      const meRes = await me((chosen.json() as Tokens).accessToken);
      expect(meRes.json()).toMatchObject({
        organisation: { id: second, name: 'Beta' },
        role: 'admin',
      });

      const wrongPassword = await login({ email: user.email, password: 'nope nope nope' });
      for (const organisationId of [former, stranger, randomUUID()]) {
        const res = await login({ email: user.email, password: user.password, organisationId });
        expectGeneric401(res);
        expect(withoutRequestId(res)).toEqual(withoutRequestId(wrongPassword));
      }
    });

    it('refuses malformed bodies with 400 and never echoes the password', async () => {
      for (const body of [
        {},
        { email: 42, password: 'x' },
        { email: 'a@example.test' },
        { email: 'a@example.test', password: 'canary-password-123', organisationId: 'nope' },
        { email: 'a@example.test', password: 'canary-password-123', role: 'owner' },
      ]) {
        const res = await login(body);
        expect(res.status).toBe(400);
        expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
        expect(res.body).not.toContain('canary-password-123');
      }
    });

    it('answers 429 with Retry-After after repeated failures, even to the right password', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      for (let i = 0; i < 10; i++) {
        expectGeneric401(await login({ email: member.email, password: `guess ${i}` }));
      }
      const refused = await login({ email: member.email, password: member.password });
      expect(refused.status).toBe(429);
      expect(refused.json()).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(900);
    });

    it('a successful sign-in clears the account’s count', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      for (let i = 0; i < 9; i++) await login({ email: member.email, password: `guess ${i}` });
      await signIn(member);
      for (let i = 0; i < 9; i++) {
        expectGeneric401(await login({ email: member.email, password: `guess ${i}` }));
      }
      await signIn(member);
    });
  });

  describe('access tokens on guarded routes', () => {
    it('GET /v1/me describes the caller with their live role and permissions', async () => {
      const member = await seedMember(t.db.app, 'auditor', 'Auditors & Co');
      const { accessToken } = await signIn(member);
      const res = await me(accessToken);
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({
        user: { id: member.userId, email: member.email, name: `Member ${member.email}` },
        organisation: { id: member.organisationId, name: 'Auditors & Co' },
        role: 'auditor',
        permissions: ['contacts:read', 'audit:read'],
      });
      await updateMembership(t.db.app, member.organisationId, member.userId, { role: 'editor' });
      expect((await me(accessToken)).json()).toMatchObject({
        role: 'editor',
        permissions: ['contacts:read', 'contacts:write'],
      });
    });

    it('a deactivated member is refused on the very next request', async () => {
      const member = await seedMember(t.db.app, 'editor');
      const { accessToken } = await signIn(member);
      expect((await me(accessToken)).status).toBe(200);
      await updateMembership(t.db.app, member.organisationId, member.userId, {
        status: 'deactivated',
      });
      expectGeneric401(await me(accessToken));
    });

    it('refuses missing, malformed, tampered, expired, alg-confused, unknown-kid and mis-addressed tokens alike', async () => {
      const member = await seedMember(t.db.app, 'editor');
      const { accessToken } = await signIn(member);
      expect((await me(accessToken)).status).toBe(200); // the control

      const { rows } = await t.db.owner.query<{ key_id: string }>(
        'SELECT key_id FROM signing_keys WHERE retired_at IS NULL',
      );
      const privateKey = createPrivateKey(await privateKeyOf(rows[0].key_id));
      const claims = jwt.decode(accessToken) as Record<string, unknown>;
      const now = Math.floor(Date.now() / 1000);
      const resign = (changes: Record<string, unknown>, options: jwt.SignOptions = {}) => {
        const payload: Record<string, unknown> = { ...claims, ...changes };
        for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
        return jwt.sign(payload, privateKey, {
          algorithm: 'ES256',
          keyid: rows[0].key_id,
          ...options,
        });
      };
      const [header, payload, signature] = accessToken.split('.');
      const tamperedPayload = Buffer.from(
        JSON.stringify({ ...claims, sub: randomUUID() }),
      ).toString('base64url');
      const publicPem = (await t.api.request('/.well-known/jwks.json')).json() as {
        keys: jwt.JwtHeader[];
      };
      expect(publicPem.keys.length).toBeGreaterThan(0);
      const spki = createPublicKey({ key: publicPem.keys[0] as never, format: 'jwk' })
        .export({ format: 'pem', type: 'spki' })
        .toString();
      const confused = jwt.sign(claims, spki, {
        algorithm: 'HS256',
        keyid: rows[0].key_id,
        allowInsecureKeySizes: true,
      });
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: rows[0].key_id })).toString('base64url')}.${payload}.`;

      const refused = {
        missing: await t.api.request('/v1/me'),
        basic: await t.api.request('/v1/me', { headers: { authorization: 'Basic dXNlcjpwdw==' } }),
        garbage: await me('not.a.token'),
        tamperedPayload: await me(`${header}.${tamperedPayload}.${signature}`),
        tamperedSignature: await me(`${header}.${payload}.${signature.slice(0, -4)}AAAA`),
        expired: await me(resign({ iat: now - 2000, exp: now - 1000 })),
        withoutExp: await me(resign({ exp: undefined })),
        wrongAudience: await me(resign({ aud: 'another-api' })),
        wrongIssuer: await me(resign({ iss: 'https://issuer.example' })),
        unknownKid: await me(resign({}, { keyid: randomUUID() })),
        algConfusion: await me(confused),
        algNone: await me(none),
        otherOrganisation: await me(resign({ org: randomUUID() })),
      };
      const bodies = Object.entries(refused).map(([name, res]) => {
        expectGeneric401(res);
        return [name, withoutRequestId(res)];
      });
      expect(new Set(bodies.map(([, body]) => JSON.stringify(body))).size).toBe(1);
    });
  });

  describe('refresh and logout', () => {
    it('rotates on every refresh; the new pair works', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const first = await signIn(member);
      const res = await post('/v1/auth/refresh', { refreshToken: first.refreshToken });
      expect(res.status).toBe(200);
      const second = res.json() as Tokens;
      expect(second).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
      expect(second.refreshToken).not.toBe(first.refreshToken);
      expect((await me(second.accessToken)).status).toBe(200);
      expect((await post('/v1/auth/refresh', { refreshToken: second.refreshToken })).status).toBe(
        200,
      );
    });

    it('reuse of a spent refresh token revokes the whole family: 401, and every token of it dies', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const first = await signIn(member);
      const second = (
        await post('/v1/auth/refresh', { refreshToken: first.refreshToken })
      ).json() as Tokens;

      expectGeneric401(await post('/v1/auth/refresh', { refreshToken: first.refreshToken }));
      expectGeneric401(await post('/v1/auth/refresh', { refreshToken: second.refreshToken }));
      expectGeneric401(await me(second.accessToken));
      expectGeneric401(await me(first.accessToken));
      // Another session of the same user is untouched.
      const other = await signIn(member);
      expect((await me(other.accessToken)).status).toBe(200);
    });

    it('two concurrent refreshes with one token: one wins, and the family is revoked', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const first = await signIn(member);
      const answers = await Promise.all([
        post('/v1/auth/refresh', { refreshToken: first.refreshToken }),
        post('/v1/auth/refresh', { refreshToken: first.refreshToken }),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
      const winner = answers.find((a) => a.status === 200)!.json() as Tokens;
      expectGeneric401(await me(winner.accessToken));
      expectGeneric401(await post('/v1/auth/refresh', { refreshToken: winner.refreshToken }));
    });

    it('refuses unknown and malformed refresh tokens with the generic 401 or a 400', async () => {
      expectGeneric401(await post('/v1/auth/refresh', { refreshToken: 'bcr_nothing' }));
      expect((await post('/v1/auth/refresh', {})).status).toBe(400);
    });

    it('logout answers 204; the access token stops on the next request and the refresh token too', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const tokens = await signIn(member);
      const res = await t.api.request('/v1/auth/logout', {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.accessToken}` },
      });
      expect(res.status).toBe(204);
      expect(res.body).toBe('');
      expectGeneric401(await me(tokens.accessToken));
      expectGeneric401(await post('/v1/auth/refresh', { refreshToken: tokens.refreshToken }));
      expectGeneric401(await t.api.request('/v1/auth/logout', { method: 'POST' }));
    });
  });

  describe('signing keys', () => {
    it('publishes the JWKS with a cache lifetime; the tokens’ kid is in it', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const { accessToken } = await signIn(member);
      const res = await t.api.request('/.well-known/jwks.json');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      const { keys } = res.json() as { keys: Record<string, unknown>[] };
      const kid = jwt.decode(accessToken, { complete: true })?.header.kid;
      expect(keys).toContainEqual({
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid,
        alg: 'ES256',
        use: 'sig',
      });
      for (const key of keys) expect(key).not.toHaveProperty('d');
    });

    it('a rotation signs nobody out: tokens of the old key keep working beside the new key’s', async () => {
      const member = await seedMember(t.db.app, 'viewer');
      const before = await signIn(member);
      const events = new PostgresEventStore(t.db.app);
      const keyring = new Keyring(new PostgresKeyStore(t.db.app), testMasterKeyProvider());
      const rotated = await rotateSigningKey(t.db.app, events, keyring, { id: 'test' });
      await events.close();

      // A token from an instance that already signs with the new key.
      await keyring.close();
      const privateKeyPem = await privateKeyOf(rotated.keyId);
      const claims = jwt.decode(before.accessToken) as Record<string, unknown>;
      const newer = jwt.sign({ ...claims, jti: randomUUID() }, createPrivateKey(privateKeyPem), {
        algorithm: 'ES256',
        keyid: rotated.keyId,
      });
      // This instance has not loaded the new key yet: the unknown kid makes it reload (at most
      // every few seconds, so the first attempts may come too soon after the last load).
      const deadline = Date.now() + 8_000;
      let status = (await me(newer)).status;
      while (status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        status = (await me(newer)).status;
      }
      expect(status).toBe(200);
      expect((await me(before.accessToken)).status).toBe(200);
      const { keys } = (await t.api.request('/.well-known/jwks.json')).json() as {
        keys: { kid: string }[];
      };
      expect(keys.map((k) => k.kid)).toEqual(
        expect.arrayContaining([rotated.keyId, rotated.previousKeyId]),
      );
    });
  });

  describe('API keys', () => {
    it('authenticate as the key, with its role, on behalf of its creator; lastUsedAt is recorded', async () => {
      const owner = await seedMember(t.db.app, 'owner', 'Keyholders');
      const { key, apiKeyId } = await seedApiKey(t.db.app, owner.organisationId, owner.userId, {
        role: 'editor',
        name: 'CRM sync',
      });
      const res = await me(key);
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({
        user: { id: owner.userId, email: owner.email, name: `Member ${owner.email}` },
        organisation: { id: owner.organisationId, name: 'Keyholders' },
        apiKey: { id: apiKeyId, name: 'CRM sync' },
        role: 'editor',
        permissions: ['contacts:read', 'contacts:write'],
      });
      const usage = async () =>
        withOrganisation(t.db.app, owner.organisationId, async (client) => {
          const { rows } = await client.query<{ last_used_at: Date }>(
            'SELECT last_used_at FROM api_key_usage WHERE key_id = $1',
            [apiKeyId],
          );
          return rows[0]?.last_used_at;
        });
      const deadline = Date.now() + 2_000;
      while ((await usage()) === undefined && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const first = await usage();
      expect(first).toBeInstanceOf(Date);
      // Within the minute, more use writes nothing.
      await me(key);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await usage())?.getTime()).toBe(first.getTime());
    });

    it('refuses revoked, expired, wrong-secret and over-ranked keys, and keys of demoted or deactivated creators', async () => {
      const owner = await seedMember(t.db.app, 'owner');
      const admin = await seedUser(t.db.app);
      await seedMembership(t.db.app, owner.organisationId, admin, 'admin');
      const ok = await seedApiKey(t.db.app, owner.organisationId, owner.userId);
      const revoked = await seedApiKey(t.db.app, owner.organisationId, owner.userId);
      const expired = await seedApiKey(t.db.app, owner.organisationId, owner.userId, {
        expiresAt: new Date(Date.now() - 1000),
      });
      const adminsKey = await seedApiKey(t.db.app, owner.organisationId, admin.userId, {
        role: 'admin',
      });
      const notYetExpired = await seedApiKey(t.db.app, owner.organisationId, owner.userId, {
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      expect((await me(ok.key)).status).toBe(200);
      expect((await me(adminsKey.key)).status).toBe(200);
      expect((await me(notYetExpired.key)).status).toBe(200);
      expect((await me(revoked.key)).status).toBe(200);

      await revokeApiKey(t.db.app, owner.organisationId, revoked.apiKeyId);
      expectGeneric401(await me(revoked.key));
      expectGeneric401(await me(expired.key));
      // Same organisation and key id, another secret.
      const forged = `${ok.key.slice(0, -10)}${ok.key.slice(-10).split('').reverse().join('')}`;
      expect(forged).not.toBe(ok.key);
      expectGeneric401(await me(forged));
      expectGeneric401(await me(`bck_${'A'.repeat(86)}`));

      // The creator is demoted below the key's role: the key stops.
      await updateMembership(t.db.app, owner.organisationId, admin.userId, { role: 'editor' });
      expectGeneric401(await me(adminsKey.key));
      await updateMembership(t.db.app, owner.organisationId, admin.userId, { role: 'admin' });
      expect((await me(adminsKey.key)).status).toBe(200);
      await updateMembership(t.db.app, owner.organisationId, admin.userId, {
        status: 'deactivated',
      });
      expectGeneric401(await me(adminsKey.key));
    });

    it('logout with an API key is refused: a key is revoked, not logged out', async () => {
      const owner = await seedMember(t.db.app, 'owner');
      const { key } = await seedApiKey(t.db.app, owner.organisationId, owner.userId);
      const res = await t.api.request('/v1/auth/logout', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'NO_SESSION' });
      expect((await me(key)).status).toBe(200);
    });
  });
});
