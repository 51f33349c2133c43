import { randomUUID } from 'node:crypto';
import type { Role } from '../../libs/domain/src';
import {
  client,
  createOrganisation,
  streamLength,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';

interface ListedKey {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

describe('API keys: GET/POST /v1/api-keys, DELETE /v1/api-keys/{id}', () => {
  const t = useLiveSystem();
  const http = () => client(t.api);
  let organisationId: string;
  let owner: Caller;
  let admin: Caller;
  let members: Record<'editor' | 'viewer' | 'auditor', Caller>;
  let other: { organisationId: string; owner: Caller; key: Caller };

  const appendsNothing = async <T>(org: string, request: () => Promise<T>) => {
    const before = await streamLength(t.store, org);
    const result = await request();
    expect(await streamLength(t.store, org)).toBe(before);
    return result;
  };
  const list = async (caller: Caller) => {
    const res = await http().send('GET', '/v1/api-keys', caller);
    expect(res.status).toBe(200);
    return (res.json() as { items: ListedKey[] }).items;
  };

  beforeAll(async () => {
    const created = await createOrganisation(t.db);
    organisationId = created.organisationId;
    owner = await http().signIn(created.owner, organisationId);
    admin = await http().addMember(owner, organisationId, 'admin');
    members = {
      editor: await http().addMember(owner, organisationId, 'editor'),
      viewer: await http().addMember(owner, organisationId, 'viewer'),
      auditor: await http().addMember(owner, organisationId, 'auditor'),
    };
    const theirs = await createOrganisation(t.db, 'Other Org');
    const theirOwner = await http().signIn(theirs.owner, theirs.organisationId);
    other = {
      organisationId: theirs.organisationId,
      owner: theirOwner,
      key: await http().issueKey(theirOwner, 'viewer'),
    };
  });

  it('issues a key (201 {id, key}), lists it without any secret, and the key signs requests', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const res = await http().send('POST', '/v1/api-keys', admin, {
      name: 'CRM sync',
      role: 'editor',
      expiresAt,
    });
    expect(res.status).toBe(201);
    const { id, key } = res.json() as { id: string; key: string };
    expect(Object.keys(res.json() as object).sort()).toEqual(['id', 'key']);
    expect(key).toMatch(/^bck_/);

    const listed = (await list(admin)).find((k) => k.id === id);
    expect(listed).toEqual({
      id,
      name: 'CRM sync',
      role: 'editor',
      createdAt: expect.stringMatching(/Z$/),
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    });
    const listing = await http().send('GET', '/v1/api-keys', owner);
    expect(listing.body).not.toContain(key.slice(4));
    expect(listing.body).not.toMatch(/secret|hash/i);

    const me = await http().send('GET', '/v1/me', { authorization: `Bearer ${key}` });
    expect(me.status).toBe(200);
    expect(me.json()).toMatchObject({ role: 'editor', organisation: { id: organisationId } });
  });

  it('records lastUsedAt once the key has been used', async () => {
    const key = await http().issueKey(owner, 'viewer');
    expect((await http().send('GET', '/v1/me', key)).status).toBe(200);
    // Written off the hot path: poll briefly.
    const deadline = Date.now() + 5_000;
    let listed: ListedKey | undefined;
    do {
      listed = (await list(owner)).find((k) => k.id === key.id);
      if (listed?.lastUsedAt) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    expect(listed?.lastUsedAt).toEqual(expect.stringMatching(/Z$/));
  });

  describe('every role against every operation', () => {
    it.each(['editor', 'viewer', 'auditor'] as const)(
      'refuses a %s listing, issuing and revoking: 403, appending nothing',
      async (role) => {
        const victim = await http().issueKey(owner, 'viewer');
        const attempts: [string, string, unknown][] = [
          ['GET', '/v1/api-keys', undefined],
          ['POST', '/v1/api-keys', { name: 'mine', role: 'viewer' }],
          ['DELETE', `/v1/api-keys/${victim.id}`, undefined],
        ];
        for (const [method, path, body] of attempts) {
          const res = await appendsNothing(organisationId, () =>
            http().send(method, path, members[role], body),
          );
          expect([method, res.status]).toEqual([method, 403]);
        }
        expect((await http().send('GET', '/v1/me', victim)).status).toBe(200);
      },
    );

    it.each(['owner', 'admin'] as const)('lets an %s list, issue and revoke', async (role) => {
      const caller = role === 'owner' ? owner : admin;
      const issued = await http().send('POST', '/v1/api-keys', caller, {
        name: `${role}'s`,
        role: 'viewer',
      });
      expect(issued.status).toBe(201);
      const { id } = issued.json() as { id: string };
      expect((await list(caller)).map((k) => k.id)).toContain(id);
      const revoked = await http().send('DELETE', `/v1/api-keys/${id}`, caller);
      expect([revoked.status, revoked.body]).toEqual([204, '']);
      expect((await list(caller)).find((k) => k.id === id)?.revokedAt).toEqual(
        expect.stringMatching(/Z$/),
      );
    });

    it('lets an admin key list and revoke, but not issue keys (a key needs a person behind it)', async () => {
      const adminKey = await http().issueKey(owner, 'admin');
      const victim = await http().issueKey(owner, 'viewer');
      expect((await http().send('GET', '/v1/api-keys', adminKey)).status).toBe(200);
      const issued = await appendsNothing(organisationId, () =>
        http().send('POST', '/v1/api-keys', adminKey, { name: 'child', role: 'viewer' }),
      );
      expect(issued.status).toBe(403);
      expect((await http().send('DELETE', `/v1/api-keys/${victim.id}`, adminKey)).status).toBe(204);
    });
  });

  describe('a key never exceeds its creator', () => {
    it('refuses an admin issuing an owner key, and an admin revoking an owner’s key', async () => {
      const ownerKey = await http().issueKey(owner, 'owner');
      const tooHigh = await appendsNothing(organisationId, () =>
        http().send('POST', '/v1/api-keys', admin, { name: 'root', role: 'owner' }),
      );
      expect(tooHigh.status).toBe(403);
      const revoke = await appendsNothing(organisationId, () =>
        http().send('DELETE', `/v1/api-keys/${ownerKey.id}`, admin),
      );
      expect(revoke.status).toBe(403);
      expect((await http().send('GET', '/v1/me', ownerKey)).status).toBe(200);
    });

    it('stops a key at once when its creator is demoted below it or deactivated', async () => {
      const creator = await http().addMember(owner, organisationId, 'admin');
      const key = await http().issueKey(creator, 'admin');
      expect((await http().send('GET', '/v1/api-keys', key)).status).toBe(200);
      const demoted = await http().send('PATCH', `/v1/users/${creator.id}`, owner, {
        role: 'editor',
      });
      expect(demoted.status).toBe(200);
      expect((await http().send('GET', '/v1/me', key)).status).toBe(401);

      const second = await http().addMember(owner, organisationId, 'admin');
      const secondKey = await http().issueKey(second, 'viewer');
      expect((await http().send('GET', '/v1/me', secondKey)).status).toBe(200);
      await http().send('POST', `/v1/users/${second.id}/deactivate`, owner);
      expect((await http().send('GET', '/v1/me', secondKey)).status).toBe(401);
    });
  });

  describe('revocation', () => {
    it('bites on the very next request', async () => {
      const key = await http().issueKey(admin, 'editor');
      expect((await http().send('GET', '/v1/me', key)).status).toBe(200);
      expect((await http().send('DELETE', `/v1/api-keys/${key.id}`, admin)).status).toBe(204);
      expect((await http().send('GET', '/v1/me', key)).status).toBe(401);
    });

    it('revoking twice answers 204 and appends nothing the second time', async () => {
      const key = await http().issueKey(admin, 'viewer');
      await http().send('DELETE', `/v1/api-keys/${key.id}`, admin);
      const again = await appendsNothing(organisationId, () =>
        http().send('DELETE', `/v1/api-keys/${key.id}`, admin),
      );
      expect(again.status).toBe(204);
    });
  });

  describe('ids, organisations and bodies', () => {
    it('answers another organisation’s key exactly as a random id (404), appending nothing', async () => {
      const before = await streamLength(t.store, other.organisationId);
      const theirs = await appendsNothing(organisationId, () =>
        http().send('DELETE', `/v1/api-keys/${other.key.id}`, owner),
      );
      const random = await http().send('DELETE', `/v1/api-keys/${randomUUID()}`, owner);
      expect(theirs.status).toBe(404);
      expect(withoutRequestId(theirs)).toEqual(withoutRequestId(random));
      expect(await streamLength(t.store, other.organisationId)).toBe(before);
      expect((await http().send('GET', '/v1/me', other.key)).status).toBe(200);
      expect((await list(owner)).map((k) => k.id)).not.toContain(other.key.id);
    });

    it('answers a malformed id with 400', async () => {
      const res = await http().send('DELETE', '/v1/api-keys/not-a-uuid', owner);
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('issues into the caller’s organisation whatever a header or the query says', async () => {
      const res = await http().send(
        'POST',
        `/v1/api-keys?organisationId=${other.organisationId}`,
        owner,
        { name: 'here', role: 'viewer' },
        { 'x-organisation-id': other.organisationId },
      );
      expect(res.status).toBe(201);
      const { id } = res.json() as { id: string };
      expect((await list(owner)).map((k) => k.id)).toContain(id);
      expect((await list(other.owner)).map((k) => k.id)).not.toContain(id);
    });

    it.each([
      ['an unknown field, named', { name: 'k', role: 'viewer', scope: 'all' }, /scope/],
      [
        'an organisation in the body, named',
        { name: 'k', role: 'viewer', organisationId: randomUUID() },
        /organisationId/,
      ],
      ['an unknown role', { name: 'k', role: 'root' }, /role/],
      [
        'an expiry that is not a date',
        { name: 'k', role: 'viewer', expiresAt: 'soon' },
        /expiresAt/,
      ],
      [
        'an expiry in the past',
        { name: 'k', role: 'viewer', expiresAt: '2020-01-01T00:00:00Z' },
        /expiresAt/,
      ],
      ['no name', { role: 'viewer' }, /name/],
    ])('answers 400 for %s, appending nothing', async (_what, body, names) => {
      const res = await appendsNothing(organisationId, () =>
        http().send('POST', '/v1/api-keys', owner, body),
      );
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect((res.json() as { detail: string }).detail).toMatch(names);
    });
  });
});
