import { createHash, randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../../libs/database/src/testing/test-database';
import { IdempotencyStore, type KeyClaim } from './idempotency.store';

const fingerprint = (text: string) => createHash('sha256').update(text).digest();
const CREATED = {
  status: 201,
  headers: { Location: '/v1/contacts/1', ETag: '"0"' },
  bodyJson: '{"id":"1","version":0}',
};

function claimOf(result: KeyClaim): string {
  if (result.outcome !== 'claimed') throw new Error(`expected a claim, got ${result.outcome}`);
  return result.claim;
}

describe('IdempotencyStore (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: IdempotencyStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new IdempotencyStore(db.app);
  });
  afterAll(() => db.drop());

  /** The organisation's rows for a key, as the organisation sees them. */
  const rows = (organisationId: string, key: string) =>
    withOrganisation(db.app, organisationId, async (client) => {
      const { rows } = await client.query<{ state: string; status: number | null }>(
        `SELECT state, status FROM idempotency_keys WHERE key = $1`,
        [key],
      );
      return rows;
    });

  /** Moves a key's first use back in time, as if it had been taken that long ago. */
  const age = (organisationId: string, key: string, seconds: number) =>
    withOrganisation(db.app, organisationId, (client) =>
      client.query(
        `UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $2) WHERE key = $1`,
        [key, seconds],
      ),
    );

  it('claims a new key, holds it in flight, then replays the stored answer byte for byte', async () => {
    const org = randomUUID();
    const claim = claimOf(await store.claim(org, 'k1', fingerprint('a')));
    expect(await rows(org, 'k1')).toEqual([{ state: 'in_flight', status: null }]);
    expect(await store.claim(org, 'k1', fingerprint('a'))).toEqual({ outcome: 'in-flight' });

    expect(await store.complete(org, 'k1', claim, CREATED)).toBe(true);
    const replay = await store.claim(org, 'k1', fingerprint('a'));
    expect(replay).toEqual({
      outcome: 'replay',
      answer: { status: 201, headers: CREATED.headers, body: { id: '1', version: 0 } },
    });
    // json, not jsonb: the keys come back in the order they were sent.
    const body = { zeta: 1, alpha: { b: 2, a: 1 } };
    const other = claimOf(await store.claim(org, 'k1-order', fingerprint('a')));
    await store.complete(org, 'k1-order', other, {
      status: 200,
      headers: {},
      bodyJson: JSON.stringify(body),
    });
    const again = await store.claim(org, 'k1-order', fingerprint('a'));
    expect(again.outcome === 'replay' && JSON.stringify(again.answer.body)).toBe(
      JSON.stringify(body),
    );
  });

  it('refuses the key for a different request, whether in flight or done', async () => {
    const org = randomUUID();
    const claim = claimOf(await store.claim(org, 'k', fingerprint('a')));
    expect(await store.claim(org, 'k', fingerprint('b'))).toEqual({ outcome: 'reused' });
    await store.complete(org, 'k', claim, CREATED);
    expect(await store.claim(org, 'k', fingerprint('b'))).toEqual({ outcome: 'reused' });
  });

  it('keeps a 204 (no body) and a refusal as answers too', async () => {
    const org = randomUUID();
    const none = claimOf(await store.claim(org, 'none', fingerprint('a')));
    await store.complete(org, 'none', none, { status: 204, headers: {}, bodyJson: null });
    expect(await store.claim(org, 'none', fingerprint('a'))).toEqual({
      outcome: 'replay',
      answer: { status: 204, headers: {}, body: null },
    });
    const refused = claimOf(await store.claim(org, 'refused', fingerprint('a')));
    await store.complete(org, 'refused', refused, {
      status: 409,
      headers: {},
      bodyJson: '{"code":"MEMBER_EXISTS"}',
    });
    expect(await store.claim(org, 'refused', fingerprint('a'))).toMatchObject({
      outcome: 'replay',
      answer: { status: 409, body: { code: 'MEMBER_EXISTS' } },
    });
  });

  it('forgets a released key, so that the retry claims it again', async () => {
    const org = randomUUID();
    const claim = claimOf(await store.claim(org, 'k', fingerprint('a')));
    expect(await store.release(org, 'k', claim)).toBe(true);
    expect(await rows(org, 'k')).toEqual([]);
    const retry = claimOf(await store.claim(org, 'k', fingerprint('a')));
    expect(retry).not.toBe(claim);
  });

  it('lets a retry take over a key left in flight for over a minute; the first attempt then changes nothing', async () => {
    const org = randomUUID();
    const first = claimOf(await store.claim(org, 'k', fingerprint('a')));
    await age(org, 'k', 59);
    expect(await store.claim(org, 'k', fingerprint('a'))).toEqual({ outcome: 'in-flight' });
    await age(org, 'k', 61);
    // Another request still may not have it.
    expect(await store.claim(org, 'k', fingerprint('b'))).toEqual({ outcome: 'reused' });
    const second = claimOf(await store.claim(org, 'k', fingerprint('a')));
    expect(second).not.toBe(first);

    expect(await store.complete(org, 'k', first, CREATED)).toBe(false);
    expect(await store.release(org, 'k', first)).toBe(false);
    expect(await rows(org, 'k')).toEqual([{ state: 'in_flight', status: null }]);
    expect(await store.complete(org, 'k', second, { ...CREATED, status: 200 })).toBe(true);
    expect(await rows(org, 'k')).toEqual([{ state: 'done', status: 200 }]);
    // A finished key is never taken over, however old its answer, until it expires.
    await age(org, 'k', 3600);
    expect(await store.claim(org, 'k', fingerprint('a'))).toMatchObject({ outcome: 'replay' });
  });

  it('treats a key older than 24 hours as new, for any request, and purges such keys', async () => {
    const org = randomUUID();
    const old = claimOf(await store.claim(org, 'old', fingerprint('a')));
    await store.complete(org, 'old', old, CREATED);
    claimOf(await store.claim(org, 'recent', fingerprint('a')));
    await age(org, 'old', 24 * 3600 + 1);
    const renewed = claimOf(await store.claim(org, 'old', fingerprint('b')));
    expect(await rows(org, 'old')).toEqual([{ state: 'in_flight', status: null }]);
    await store.complete(org, 'old', renewed, CREATED);

    await age(org, 'old', 24 * 3600 + 1);
    expect(await store.purgeExpired(org)).toBe(1);
    expect(await rows(org, 'old')).toEqual([]);
    expect(await rows(org, 'recent')).toHaveLength(1);
  });

  it("keeps organisations apart: the same key is two keys, and one cannot see, settle or purge the other's", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const claimA = claimOf(await store.claim(a, 'shared', fingerprint('a')));
    // Another request under the same key string, in another organisation: a claim of its own.
    const claimB = claimOf(await store.claim(b, 'shared', fingerprint('b')));
    await store.complete(a, 'shared', claimA, CREATED);

    expect(await store.complete(b, 'shared', claimA, CREATED)).toBe(false);
    expect(await store.release(b, 'shared', claimA)).toBe(false);
    expect(await rows(b, 'shared')).toEqual([{ state: 'in_flight', status: null }]);
    expect(await store.claim(b, 'shared', fingerprint('b'))).toEqual({ outcome: 'in-flight' });
    expect(await store.claim(a, 'shared', fingerprint('a'))).toMatchObject({ outcome: 'replay' });

    await age(a, 'shared', 24 * 3600 + 1);
    expect(await store.purgeExpired(b)).toBe(0);
    expect(await rows(a, 'shared')).toHaveLength(1);
    await store.release(b, 'shared', claimB);

    // Without an organisation, and as the owner, no row at all.
    for (const pool of [db.app, db.owner]) {
      const { rows: seen } = await pool.query(`SELECT 1 FROM idempotency_keys`);
      expect(seen).toEqual([]);
    }
  });

  it('lets exactly one of many concurrent first uses claim a key', async () => {
    const org = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => store.claim(org, 'race', fingerprint('a'))),
    );
    expect(results.filter((r) => r.outcome === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'in-flight')).toHaveLength(7);
  });

  it('stores only keys the table accepts: 1 to 255 visible ASCII characters', async () => {
    const org = randomUUID();
    await expect(store.claim(org, 'with space', fingerprint('a'))).rejects.toMatchObject({
      code: '23514',
    });
    await expect(store.claim(org, 'x'.repeat(256), fingerprint('a'))).rejects.toMatchObject({
      code: '23514',
    });
  });
});
