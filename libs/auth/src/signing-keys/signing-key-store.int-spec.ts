import { randomUUID } from 'node:crypto';
import { PostgresEventStore, type EventStore } from '@beecastle/event-store';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { signAccessToken, verifyAccessToken } from '../tokens/access-token';
import { ensureSigningKey, rotateSigningKey, SIGNING_KEYS_STREAM } from './signing-key-rotation';
import { SigningKeyStore } from './signing-key-store';

describe('signing keys (PostgreSQL)', () => {
  let db: TestDatabase;
  let events: PostgresEventStore;
  const actor = { id: 'test' };

  beforeEach(async () => {
    db = await createTestDatabase();
    events = new PostgresEventStore(db.app);
  });
  afterEach(async () => {
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
      Array.from({ length: 6 }, () => ensureSigningKey(db.app, events, actor)),
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
    await expect(ensureSigningKey(db.app, events, actor)).resolves.toBeUndefined();
  });

  it('rotation activates a new key; tokens of the old one still verify and its key stays published', async () => {
    const first = await ensureSigningKey(db.app, events, actor);
    const store = new SigningKeyStore(db.app);
    await store.start();
    try {
      const subject = {
        userId: randomUUID(),
        organisationId: randomUUID(),
        sessionId: randomUUID(),
      };
      const before = signAccessToken(store.signingKey(), subject).accessToken;

      const rotated = await rotateSigningKey(db.app, events, { id: 'cli' });
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
    const first = await ensureSigningKey(db.app, events, actor);
    await rotateSigningKey(db.app, events, actor);
    const store = new SigningKeyStore(db.app, { verifiableSeconds: 3600 });
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
    const first = await ensureSigningKey(db.app, events, actor);
    await rotateSigningKey(db.app, events, actor);
    const store = new SigningKeyStore(db.app, { verifiableSeconds: 60, now: () => now });
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
    await ensureSigningKey(db.app, events, actor);
    const store = new SigningKeyStore(db.app, {
      reloadIntervalMs: 3_600_000,
      unknownKidReloadIntervalMs: 5_000,
      now: () => now,
    });
    await store.start();
    try {
      now += 5_000;
      const second = await rotateSigningKey(db.app, events, actor);
      await expect(store.verificationKey(second.keyId)).resolves.toBeDefined();

      // Within the interval an unknown kid costs no query, so a third key is not seen yet...
      const third = await rotateSigningKey(db.app, events, actor);
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

  it('rolls the key back when its event cannot be recorded', async () => {
    const unavailable: EventStore = {
      appendToStream: () => Promise.reject(new Error('the event log is unavailable')),
      appendToStreams: () => Promise.reject(new Error('the event log is unavailable')),
      readStream: (...args) => events.readStream(...args),
      readAll: (...args) => events.readAll(...args),
      subscribeToAll: (...args) => events.subscribeToAll(...args),
      close: () => Promise.resolve(),
    };
    await expect(ensureSigningKey(db.app, unavailable, actor)).rejects.toThrow('unavailable');
    await expect(rotateSigningKey(db.app, unavailable, actor)).rejects.toThrow('unavailable');
    const { rows } = await db.owner.query('SELECT count(*)::int AS n FROM signing_keys');
    expect(rows[0]).toEqual({ n: 0 });
  });
});
