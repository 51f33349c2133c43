import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { withOrganisation } from '../../libs/database/src';
import { streamName } from '../../libs/event-store/src';
import { requestFingerprint } from '../../apps/api/src/http/idempotency/idempotency-key';
import type { HttpsResponse } from './support/https-request';
import {
  client,
  createOrganisation,
  PASSWORD,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';

/**
 * Idempotency-Key on writes (API.md, "Conventions for every write"), over HTTPS against the real
 * app: a retry answers the first answer and appends nothing; another request under the key is
 * 422; one still running is 409; keys belong to their organisation; a server fault frees the key.
 */
describe('Idempotency-Key on writes', () => {
  const t = useLiveSystem();
  const http = () => client(t.api);

  /** Every event of the organisation, whatever the stream: "appended nothing" means this held. */
  const eventCount = async (organisationId: string) => {
    const { rows } = await t.db.owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE org_id = $1`,
      [organisationId],
    );
    return rows[0].n;
  };

  const newOrganisation = async (): Promise<{ organisationId: string; owner: Caller }> => {
    const created = await createOrganisation(t.db);
    return {
      organisationId: created.organisationId,
      owner: await http().signIn(created.owner, created.organisationId),
    };
  };

  const send = (
    method: string,
    path: string,
    caller: Caller,
    key: string | undefined,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    http().send(method, path, caller, body, {
      ...(key === undefined ? {} : { 'idempotency-key': key }),
      ...headers,
    });

  /** The parts of an answer a replay repeats. */
  const answerOf = (res: HttpsResponse) => ({
    status: res.status,
    location: res.headers.location,
    etag: res.headers.etag,
    contentType: res.headers['content-type'],
    body: res.body,
  });

  const userBody = () => ({
    email: `member-${randomUUID()}@example.test`,
    name: 'A Member',
    role: 'viewer',
    password: PASSWORD,
  });

  describe('a retry with the same key and request', () => {
    it('POST /v1/users: the first answer again, marked replayed, and nothing appended', async () => {
      const { organisationId, owner } = await newOrganisation();
      const body = userBody();
      const first = await send('POST', '/v1/users', owner, 'add-member-1', body);
      expect(first.status).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const after = await eventCount(organisationId);

      // Same body with its keys in another order: the same request.
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      for (const retryBody of [body, reordered]) {
        const retry = await send('POST', '/v1/users', owner, 'add-member-1', retryBody);
        expect(answerOf(retry)).toEqual(answerOf(first));
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
      }
      expect(await eventCount(organisationId)).toBe(after);
      // Without the key, the same body is a second request, refused on its merits.
      const again = await send('POST', '/v1/users', owner, undefined, body);
      expect([again.status, (again.json() as { code: string }).code]).toEqual([
        409,
        'MEMBER_EXISTS',
      ]);
    });

    it('POST /v1/api-keys: the same secret again, not a second key', async () => {
      const { organisationId, owner } = await newOrganisation();
      const first = await send('POST', '/v1/api-keys', owner, 'issue-1', {
        name: 'sync',
        role: 'viewer',
      });
      expect(first.status).toBe(201);
      const after = await eventCount(organisationId);
      const retry = await send('POST', '/v1/api-keys', owner, 'issue-1', {
        role: 'viewer',
        name: 'sync',
      });
      expect(answerOf(retry)).toEqual(answerOf(first));
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(await eventCount(organisationId)).toBe(after);
      const listed = await http().send('GET', '/v1/api-keys', owner);
      expect((listed.json() as { items: unknown[] }).items).toHaveLength(1);
    });

    it('DELETE /v1/api-keys/{id}: 204 again, with no body', async () => {
      const { organisationId, owner } = await newOrganisation();
      const key = await http().issueKey(owner, 'viewer');
      const first = await send('DELETE', `/v1/api-keys/${key.id}`, owner, 'revoke-1');
      expect([first.status, first.body]).toEqual([204, '']);
      const after = await eventCount(organisationId);
      const retry = await send('DELETE', `/v1/api-keys/${key.id}`, owner, 'revoke-1');
      expect([retry.status, retry.body, retry.headers['idempotent-replayed']]).toEqual([
        204,
        '',
        'true',
      ]);
      expect(await eventCount(organisationId)).toBe(after);
    });

    it('POST /v1/contacts: the same id, version, Location and ETag; PATCH replays past its stale If-Match', async () => {
      const { organisationId, owner } = await newOrganisation();
      const created = await send('POST', '/v1/contacts', owner, 'create-ada', {
        firstName: 'Ada',
        lastName: 'Lovelace',
      });
      expect(created.status).toBe(201);
      expect(created.headers.location).toMatch(/^\/v1\/contacts\//);
      expect(created.headers.etag).toBe('"0"');
      const afterCreate = await eventCount(organisationId);
      const retry = await send('POST', '/v1/contacts', owner, 'create-ada', {
        lastName: 'Lovelace',
        firstName: 'Ada',
      });
      expect(answerOf(retry)).toEqual(answerOf(created));
      expect(await eventCount(organisationId)).toBe(afterCreate);

      const { id } = created.json() as { id: string };
      const patch = () =>
        send(
          'PATCH',
          `/v1/contacts/${id}`,
          owner,
          'rename-ada',
          { company: 'Analytical' },
          {
            'if-match': '"0"',
          },
        );
      const updated = await patch();
      expect([updated.status, updated.headers.etag]).toEqual([200, '"1"']);
      const afterUpdate = await eventCount(organisationId);
      // Without the key, "0" is stale now (412); with it, the retry is the first answer.
      const replayed = await patch();
      expect(answerOf(replayed)).toEqual(answerOf(updated));
      expect(await eventCount(organisationId)).toBe(afterUpdate);
      const stale = await send(
        'PATCH',
        `/v1/contacts/${id}`,
        owner,
        undefined,
        {
          company: 'Analytical',
        },
        { 'if-match': '"0"' },
      );
      expect(stale.status).toBe(412);

      // The same key with another If-Match is another request.
      const otherVersion = await send(
        'PATCH',
        `/v1/contacts/${id}`,
        owner,
        'rename-ada',
        { company: 'Analytical' },
        { 'if-match': '"1"' },
      );
      expect(otherVersion.status).toBe(422);
      expect(await eventCount(organisationId)).toBe(afterUpdate);
    });

    it('replays a refusal as it was sent (4xx answers are answers), request id aside', async () => {
      const { organisationId, owner } = await newOrganisation();
      const before = await eventCount(organisationId);
      const body = { name: 'x', role: 'viewer', unknownField: 1 };
      const first = await send('POST', '/v1/api-keys', owner, 'bad-body', body);
      expect(first.status).toBe(400);
      const retry = await send('POST', '/v1/api-keys', owner, 'bad-body', body);
      expect(retry.status).toBe(400);
      expect(retry.headers['content-type']).toBe(first.headers['content-type']);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(withoutRequestId(retry)).toEqual(withoutRequestId(first));
      expect((retry.json() as { requestId: string }).requestId).toBe(retry.headers['x-request-id']);
      // Byte for byte, once the request ids are set aside.
      const bare = (res: HttpsResponse) =>
        res.body.replace(String(res.headers['x-request-id']), '<id>');
      expect(bare(retry)).toBe(bare(first));
      expect(await eventCount(organisationId)).toBe(before);
    });
  });

  it('refuses the key for a different request: 422 IDEMPOTENCY_KEY_REUSED, nothing appended', async () => {
    const { organisationId, owner } = await newOrganisation();
    const first = await send('POST', '/v1/api-keys', owner, 'reused', {
      name: 'a',
      role: 'viewer',
    });
    expect(first.status).toBe(201);
    const before = await eventCount(organisationId);
    const attempts: [string, string, unknown][] = [
      ['POST', '/v1/api-keys', { name: 'b', role: 'viewer' }],
      ['POST', '/v1/users', userBody()],
      ['POST', '/v1/contacts', { firstName: 'Grace' }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await send(method, path, owner, 'reused', body);
      expect([path, res.status, res.headers['content-type']]).toEqual([
        path,
        422,
        'application/problem+json; charset=utf-8',
      ]);
      expect(res.json()).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
    }
    // Another caller in the same organisation, same body: not the same request either.
    const admin = await http().addMember(owner, organisationId, 'admin');
    const afterAdmin = await eventCount(organisationId);
    const byAdmin = await send('POST', '/v1/api-keys', admin, 'reused', {
      name: 'a',
      role: 'viewer',
    });
    expect(byAdmin.status).toBe(422);
    expect(await eventCount(organisationId)).toBe(afterAdmin);
    expect(afterAdmin).toBeGreaterThan(before);
  });

  describe('while the first request runs', () => {
    /**
     * Holds the organisation stream's head row, which an append must lock: the first request
     * takes its key, then waits in its append until `release`.
     */
    const holdAppends = async (organisationId: string) => {
      const owner: PoolClient = await t.db.owner.connect();
      await owner.query('BEGIN');
      await owner.query(`SELECT 1 FROM streams WHERE stream_id = $1 FOR UPDATE`, [
        streamName('organisation', organisationId, organisationId),
      ]);
      return async () => {
        await owner.query('COMMIT');
        owner.release();
      };
    };
    const keyState = (organisationId: string, key: string) =>
      withOrganisation(t.db.app, organisationId, async (c) => {
        const { rows } = await c.query<{ state: string }>(
          `SELECT state FROM idempotency_keys WHERE key = $1`,
          [key],
        );
        return rows[0]?.state;
      });
    const eventually = async (condition: () => Promise<boolean>) => {
      const deadline = Date.now() + 5_000;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    it('answers 409 IDEMPOTENCY_KEY_IN_FLIGHT with Retry-After to the same request, 422 to another; then the first answer', async () => {
      const { organisationId, owner } = await newOrganisation();
      const body = { name: 'slow', role: 'viewer' };
      const release = await holdAppends(organisationId);
      const first = send('POST', '/v1/api-keys', owner, 'slow-1', body);
      try {
        await eventually(async () => (await keyState(organisationId, 'slow-1')) === 'in_flight');
        const before = await eventCount(organisationId);

        const concurrent = await send('POST', '/v1/api-keys', owner, 'slow-1', body);
        expect([concurrent.status, concurrent.headers['retry-after']]).toEqual([409, '1']);
        expect(concurrent.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_FLIGHT' });
        const other = await send('POST', '/v1/api-keys', owner, 'slow-1', { ...body, name: 'x' });
        expect(other.status).toBe(422);
        expect(await eventCount(organisationId)).toBe(before);
      } finally {
        await release();
      }
      const answered = await first;
      expect(answered.status).toBe(201);
      expect(await keyState(organisationId, 'slow-1')).toBe('done');
      const retry = await send('POST', '/v1/api-keys', owner, 'slow-1', body);
      expect(answerOf(retry)).toEqual(answerOf(answered));
    });

    it('takes over a key left in flight for over a minute (its first process died), not before', async () => {
      const { organisationId, owner } = await newOrganisation();
      const body = { name: 'orphan', role: 'viewer' };
      // What a process that died after taking the key leaves behind.
      const fingerprint = requestFingerprint({
        method: 'POST',
        path: '/v1/api-keys',
        actor: `user:${owner.id}`,
        ifMatch: undefined,
        body,
      });
      const orphan = (secondsAgo: number) =>
        withOrganisation(t.db.app, organisationId, (c) =>
          c.query(
            `INSERT INTO idempotency_keys (org_id, key, fingerprint, claim, state, created_at)
             VALUES ($1, 'orphan', $2, $3, 'in_flight', now() - make_interval(secs => $4))
             ON CONFLICT (org_id, key) DO UPDATE SET created_at = EXCLUDED.created_at`,
            [organisationId, fingerprint, randomUUID(), secondsAgo],
          ),
        );
      await orphan(50);
      const before = await eventCount(organisationId);
      const early = await send('POST', '/v1/api-keys', owner, 'orphan', body);
      expect([early.status, early.headers['retry-after']]).toEqual([409, '1']);
      expect(await eventCount(organisationId)).toBe(before);

      await orphan(61);
      const retry = await send('POST', '/v1/api-keys', owner, 'orphan', body);
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(await keyState(organisationId, 'orphan')).toBe('done');
      expect(await eventCount(organisationId)).toBe(before + 1);
    });
  });

  it('keeps keys per organisation: the same key in two organisations is two keys', async () => {
    const a = await newOrganisation();
    const b = await newOrganisation();
    const body = { name: 'shared', role: 'viewer' };
    const inA = await send('POST', '/v1/api-keys', a.owner, 'shared-key', body);
    const inB = await send('POST', '/v1/api-keys', b.owner, 'shared-key', body);
    expect([inA.status, inB.status]).toEqual([201, 201]);
    expect(inB.headers['idempotent-replayed']).toBeUndefined();
    expect((inA.json() as { id: string }).id).not.toBe((inB.json() as { id: string }).id);
    // Another request under B's key does not disturb A's, and each replays its own answer.
    const countA = await eventCount(a.organisationId);
    expect(
      (await send('POST', '/v1/contacts', b.owner, 'shared-key', { firstName: 'B' })).status,
    ).toBe(422);
    const retryA = await send('POST', '/v1/api-keys', a.owner, 'shared-key', body);
    const retryB = await send('POST', '/v1/api-keys', b.owner, 'shared-key', body);
    expect(answerOf(retryA)).toEqual(answerOf(inA));
    expect(answerOf(retryB)).toEqual(answerOf(inB));
    expect(await eventCount(a.organisationId)).toBe(countA);
  });

  it.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['with a space', 'two words'],
    ['not ASCII', 'clé'],
  ])(
    'refuses a key %s: 400 VALIDATION_FAILED naming the header, nothing appended',
    async (_what, key) => {
      const { organisationId, owner } = await newOrganisation();
      const before = await eventCount(organisationId);
      const res = await http().send(
        'POST',
        '/v1/api-keys',
        owner,
        { name: 'k', role: 'viewer' },
        // Node refuses to send a non-ASCII header value as a string; as bytes it goes.
        { 'idempotency-key': Buffer.from(key, 'utf8').toString('latin1') },
      );
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: ['Idempotency-Key'] });
      expect(await eventCount(organisationId)).toBe(before);
    },
  );

  it('leaves public routes alone and reads, whatever the header', async () => {
    const created = await createOrganisation(t.db);
    const signIn = (key: string) =>
      http().send(
        'POST',
        '/v1/auth/token',
        undefined,
        { email: created.owner.email, password: PASSWORD, organisationId: created.organisationId },
        { 'idempotency-key': key },
      );
    const [one, two] = [await signIn('same'), await signIn('same')];
    expect([one.status, two.status]).toEqual([200, 200]);
    expect(two.headers['idempotent-replayed']).toBeUndefined();
    expect((one.json() as { accessToken: string }).accessToken).not.toBe(
      (two.json() as { accessToken: string }).accessToken,
    );
    expect((await signIn('')).status).toBe(200);
    const owner = await http().signIn(created.owner, created.organisationId);
    const me = await http().send('GET', '/v1/me', owner, undefined, { 'idempotency-key': '' });
    expect(me.status).toBe(200);
  });

  it('frees the key after a server fault, so that the retry runs', async () => {
    const { organisationId, owner } = await newOrganisation();
    const body = { name: 'unlucky', role: 'viewer' };
    // A fault in the database, for this organisation's appends only.
    const trigger = `fail_${organisationId.replace(/-/g, '')}`;
    await t.db.owner.query(`
      CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await t.db.owner.query(`
      CREATE TRIGGER ${trigger} BEFORE INSERT ON events FOR EACH ROW
      WHEN (NEW.org_id = '${organisationId}') EXECUTE FUNCTION ${trigger}()`);
    let failed: HttpsResponse;
    const before = await eventCount(organisationId);
    try {
      failed = await send('POST', '/v1/api-keys', owner, 'after-fault', body);
    } finally {
      await t.db.owner.query(`DROP TRIGGER ${trigger} ON events`);
      await t.db.owner.query(`DROP FUNCTION ${trigger}()`);
    }
    expect([failed.status, (failed.json() as { code: string }).code]).toEqual([
      500,
      'INTERNAL_ERROR',
    ]);
    expect(await eventCount(organisationId)).toBe(before);
    const retry = await send('POST', '/v1/api-keys', owner, 'after-fault', body);
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(await eventCount(organisationId)).toBe(before + 1);
  });

  it('documents the header on every authenticated write in the OpenAPI document', async () => {
    const doc = (await t.api.request('/docs-json')).json() as {
      paths: Record<
        string,
        Record<string, { security?: unknown[]; parameters?: { name: string; in: string }[] }>
      >;
    };
    const writes = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => ['post', 'put', 'patch', 'delete'].includes(method))
        .map(([method, operation]) => ({ route: `${method} ${path}`, operation })),
    );
    expect(writes.length).toBeGreaterThan(5);
    for (const { route, operation } of writes) {
      const documented = (operation.parameters ?? []).some(
        (p) => p.in === 'header' && p.name === 'Idempotency-Key',
      );
      expect([route, documented]).toEqual([route, operation.security === undefined]);
    }
  });
});
