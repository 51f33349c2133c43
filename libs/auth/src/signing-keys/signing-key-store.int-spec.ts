import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  Keyring,
  LocalMasterKeyProvider,
  MasterKeyMismatchError,
  PostgresKeyStore,
  type MasterKeyProvider,
} from '@beecastle/crypto';
import { withOrganisation } from '@beecastle/database';
import { PLATFORM_ORGANISATION_ID } from '@beecastle/domain';
import { PostgresEventStore, type EventStore } from '@beecastle/event-store';
import { testMasterKeyProvider } from '../../../crypto/src/testing/test-master-key';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { signAccessToken, verifyAccessToken } from '../tokens/access-token';
import { ensureSigningKey, rotateSigningKey, SIGNING_KEYS_STREAM } from './signing-key-rotation';
import { generateSigningKey } from './signing-key';
import { openPrivateKey, signingKeySubject } from './signing-key-seal';
import { SigningKeyStore } from './signing-key-store';

describe('signing keys (PostgreSQL)', () => {
  let db: TestDatabase;
  let events: PostgresEventStore;
  let keyring: Keyring;
  const actor = { id: 'test' };

  beforeEach(async () => {
    db = await createTestDatabase();
    events = new PostgresEventStore(db.app);
    keyring = new Keyring(new PostgresKeyStore(db.app), testMasterKeyProvider());
  });
  afterEach(async () => {
    await keyring.close();
    await events.close();
    await db.drop();
  });

  const rotations = async () =>
    (await events.readStream(SIGNING_KEYS_STREAM)).map((e) => ({
      type: e.type,
      actor: [e.metadata.actorType, e.metadata.actorId],
      data: JSON.parse(Buffer.from(e.data).toString('utf8')) as unknown,
    }));

  it('creates exactly one key when several instances start at once, and records it once', async () => {
    const created = await Promise.all(
      Array.from({ length: 6 }, () => ensureSigningKey(db.app, events, keyring, actor)),
    );
    const winners = created.filter((c) => c !== undefined);
    expect(winners).toHaveLength(1);
    const { rows } = await db.owner.query('SELECT key_id, retired_at FROM signing_keys');
    expect(rows).toEqual([{ key_id: winners[0].keyId, retired_at: null }]);
    expect(await rotations()).toEqual([
      {
        type: 'SigningKeyRotated',
        actor: ['system', 'test'],
        data: { keyId: winners[0].keyId, previousKeyId: null, algorithm: 'ES256' },
      },
    ]);
    // A later start finds the key: it makes nothing, not even a sealing key.
    const sealingKeys = () =>
      withOrganisation(db.app, PLATFORM_ORGANISATION_ID, async (client) => {
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM data_keys WHERE org_id = $1',
          [PLATFORM_ORGANISATION_ID],
        );
        return rows[0].n;
      });
    const before = await sealingKeys();
    await expect(ensureSigningKey(db.app, events, keyring, actor)).resolves.toBeUndefined();
    expect(await sealingKeys()).toBe(before);
  });

  it('rotation activates a new key; tokens of the old one still verify and its key stays published', async () => {
    const first = await ensureSigningKey(db.app, events, keyring, actor);
    const store = new SigningKeyStore(db.app, keyring);
    await store.start();
    try {
      const subject = {
        userId: randomUUID(),
        organisationId: randomUUID(),
        sessionId: randomUUID(),
      };
      const before = signAccessToken(store.signingKey(), subject).accessToken;

      const rotated = await rotateSigningKey(db.app, events, keyring, { id: 'cli' });
      expect(rotated.previousKeyId).toBe(first!.keyId);
      await store.reload();

      expect(store.signingKey().keyId).toBe(rotated.keyId);
      const after = signAccessToken(store.signingKey(), subject).accessToken;
      const keyFor = (kid: string) => store.verificationKey(kid);
      await expect(verifyAccessToken(before, keyFor)).resolves.toMatchObject({
        sid: subject.sessionId,
      });
      await expect(verifyAccessToken(after, keyFor)).resolves.toMatchObject({
        sid: subject.sessionId,
      });
      expect(
        store
          .jwks()
          .keys.map((k) => k.kid)
          .sort(),
      ).toEqual([first!.keyId, rotated.keyId].sort());
      expect(store.jwks().keys[0]).toEqual({
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: expect.any(String),
        alg: 'ES256',
        use: 'sig',
      });
      expect((await rotations()).map((r) => r.data)).toEqual([
        { keyId: first!.keyId, previousKeyId: null, algorithm: 'ES256' },
        { keyId: rotated.keyId, previousKeyId: first!.keyId, algorithm: 'ES256' },
      ]);
      const { rows } = await db.owner.query(
        'SELECT count(*)::int AS active FROM signing_keys WHERE retired_at IS NULL',
      );
      expect(rows[0]).toEqual({ active: 1 });
    } finally {
      store.stop();
    }
  });

  it('drops a retired key once its tokens can no longer be alive', async () => {
    const first = await ensureSigningKey(db.app, events, keyring, actor);
    await rotateSigningKey(db.app, events, keyring, actor);
    const store = new SigningKeyStore(db.app, keyring, { verifiableSeconds: 3600 });
    await store.start();
    try {
      await expect(store.verificationKey(first!.keyId)).resolves.toBeDefined();
      await db.owner.query(
        `UPDATE signing_keys SET retired_at = now() - interval '2 hours' WHERE key_id = $1`,
        [first!.keyId],
      );
      await store.reload();
      await expect(store.verificationKey(first!.keyId)).resolves.toBeUndefined();
      expect(store.jwks().keys.map((k) => k.kid)).not.toContain(first!.keyId);
    } finally {
      store.stop();
    }
  });

  it('stops verifying with a retired key when its window passes, even between reloads', async () => {
    let now = Date.now();
    const first = await ensureSigningKey(db.app, events, keyring, actor);
    await rotateSigningKey(db.app, events, keyring, actor);
    const store = new SigningKeyStore(db.app, keyring, { verifiableSeconds: 60, now: () => now });
    await store.start();
    try {
      await expect(store.verificationKey(first!.keyId)).resolves.toBeDefined();
      now += 61_000;
      await expect(store.verificationKey(first!.keyId)).resolves.toBeUndefined();
    } finally {
      store.stop();
    }
  });

  it('loads a key another instance activated when a token names it, at most every few seconds', async () => {
    let now = Date.now();
    await ensureSigningKey(db.app, events, keyring, actor);
    const store = new SigningKeyStore(db.app, keyring, {
      reloadIntervalMs: 3_600_000,
      unknownKidReloadIntervalMs: 5_000,
      now: () => now,
    });
    await store.start();
    try {
      now += 5_000;
      const second = await rotateSigningKey(db.app, events, keyring, actor);
      await expect(store.verificationKey(second.keyId)).resolves.toBeDefined();

      // Within the interval an unknown kid costs no query, so a third key is not seen yet...
      const third = await rotateSigningKey(db.app, events, keyring, actor);
      now += 1_000;
      await expect(store.verificationKey(third.keyId)).resolves.toBeUndefined();
      await expect(store.verificationKey(randomUUID())).resolves.toBeUndefined();
      // ...and once the interval has passed, it is.
      now += 4_000;
      await expect(store.verificationKey(third.keyId)).resolves.toBeDefined();
      expect(store.signingKey().keyId).toBe(third.keyId);
    } finally {
      store.stop();
    }
  });

  describe('private halves at rest', () => {
    const subject = { userId: randomUUID(), organisationId: randomUUID(), sessionId: randomUUID() };
    const row = async (keyId: string) =>
      (
        await db.owner.query<{
          private_key: string | null;
          sealed_private_key: Buffer | null;
          private_key_data_key: string | null;
        }>(
          `SELECT private_key, sealed_private_key, private_key_data_key FROM signing_keys
            WHERE key_id = $1`,
          [keyId],
        )
      ).rows[0];
    const signsAndVerifies = async (store: SigningKeyStore) => {
      const token = signAccessToken(store.signingKey(), subject).accessToken;
      await expect(
        verifyAccessToken(token, (kid) => store.verificationKey(kid)),
      ).resolves.toMatchObject({ sid: subject.sessionId });
    };

    /** A process of its own under `master` loads `keyId` as the active key and signs with it. */
    const signsWithItsOwnKeyring = async (master: MasterKeyProvider, keyId: string) => {
      const own = new Keyring(new PostgresKeyStore(db.app), master);
      const store = new SigningKeyStore(db.app, own);
      try {
        await store.start();
        expect(store.signingKey().keyId).toBe(keyId);
        await signsAndVerifies(store);
      } finally {
        store.stop();
        await own.close();
      }
    };

    it('stores the private half only sealed, under a data key of its own, and signs with it', async () => {
      const created = await ensureSigningKey(db.app, events, keyring, actor);
      const stored = await row(created!.keyId);
      expect(stored.private_key).toBeNull();
      expect(stored.private_key_data_key).toBe(`${signingKeySubject(created!.keyId)}:1`);
      expect(stored.sealed_private_key!.toString('latin1')).not.toContain('PRIVATE KEY');
      // Another process, with the master key, opens it.
      await signsWithItsOwnKeyring(testMasterKeyProvider(), created!.keyId);
      // Under another master key nothing opens: the start fails closed.
      const stranger = new Keyring(
        new PostgresKeyStore(db.app),
        new LocalMasterKeyProvider(randomBytes(32), 'another key'),
      );
      await expect(new SigningKeyStore(db.app, stranger).reload()).rejects.toBeInstanceOf(
        MasterKeyMismatchError,
      );
      await stranger.close();
    });

    it('seals a key written in the clear (before sealing) at the next start, and drops a retired one’s', async () => {
      const [active, retired] = [generateSigningKey(), generateSigningKey()];
      for (const [key, retiredAt] of [
        [retired, 'now()'],
        [active, 'NULL'],
      ] as const) {
        await db.owner.query(
          `INSERT INTO signing_keys (key_id, algorithm, private_key, public_jwk, retired_at)
           VALUES ($1, 'ES256', $2, $3, ${retiredAt})`,
          [key.keyId, key.privateKeyPem, JSON.stringify(key.publicJwk)],
        );
      }
      await expect(ensureSigningKey(db.app, events, keyring, actor)).resolves.toBeUndefined();
      expect(await row(retired.keyId)).toEqual({
        private_key: null,
        sealed_private_key: null,
        private_key_data_key: null,
      });
      const sealed = await row(active.keyId);
      expect(sealed.private_key).toBeNull();
      expect(sealed.sealed_private_key).not.toBeNull();
      const store = new SigningKeyStore(db.app, keyring);
      await store.start();
      try {
        expect(store.signingKey().keyId).toBe(active.keyId);
        const token = signAccessToken(store.signingKey(), subject).accessToken;
        // The very key pair that was in the clear.
        expect(
          jwt.verify(token, createPublicKey({ key: active.publicJwk, format: 'jwk' }), {
            algorithms: ['ES256'],
          }),
        ).toBeTruthy();
      } finally {
        store.stop();
      }
    });

    it('opens under the new master key after keys:rotate-master', async () => {
      const created = await ensureSigningKey(db.app, events, keyring, actor);
      const next = new LocalMasterKeyProvider(randomBytes(32), 'the next key');
      const organisations = async () =>
        (
          await db.app.query<{ org_id: string }>(
            'SELECT DISTINCT org_id::text AS org_id FROM streams',
          )
        ).rows.map((r) => r.org_id);
      await keyring.rotateMasterKey(next, organisations);
      await signsWithItsOwnKeyring(next, created!.keyId);
    });

    it('drops a retired key’s private half and destroys its data key', async () => {
      const first = await ensureSigningKey(db.app, events, keyring, actor);
      const before = await row(first!.keyId);
      await rotateSigningKey(db.app, events, keyring, actor);
      expect(await row(first!.keyId)).toEqual({
        private_key: null,
        sealed_private_key: null,
        private_key_data_key: null,
      });
      // A copy taken before the rotation (a backup) no longer opens either.
      await expect(
        openPrivateKey(keyring, first!.keyId, {
          sealed: before.sealed_private_key!,
          dataKeyId: before.private_key_data_key!,
        }),
      ).rejects.toThrow(/cannot be opened/);
    });
  });

  it('rolls the key back when its event cannot be recorded', async () => {
    const unavailable: EventStore = {
      appendToStream: () => Promise.reject(new Error('the event log is unavailable')),
      appendToStreams: () => Promise.reject(new Error('the event log is unavailable')),
      readStream: (...args) => events.readStream(...args),
      readAll: (...args) => events.readAll(...args),
      subscribeToAll: (...args) => events.subscribeToAll(...args),
      close: () => Promise.resolve(),
    };
    await expect(ensureSigningKey(db.app, unavailable, keyring, actor)).rejects.toThrow(
      'unavailable',
    );
    await expect(rotateSigningKey(db.app, unavailable, keyring, actor)).rejects.toThrow(
      'unavailable',
    );
    const { rows } = await db.owner.query('SELECT count(*)::int AS n FROM signing_keys');
    expect(rows[0]).toEqual({ n: 0 });
  });
});
