import { randomUUID } from 'node:crypto';
import type { Role } from '../../libs/domain/src';
import {
  client,
  createOrganisation,
  PASSWORD,
  streamLength,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';

/** Users of one organisation, every one made and signed in through the product's own paths. */
interface Cast {
  readonly organisationId: string;
  readonly owner: Caller;
  readonly admin: Caller;
  readonly editor: Caller;
  readonly viewer: Caller;
  readonly auditor: Caller;
}

describe('users: GET/POST /v1/users, PATCH /v1/users/{id}, deactivate and reactivate', () => {
  const t = useLiveSystem();
  const http = () => client(t.api);
  let cast: Cast;
  let other: { organisationId: string; owner: Caller; member: Caller };

  const castOf = async (): Promise<Cast> => {
    const { organisationId, owner } = await createOrganisation(t.db);
    const ownerCaller = await http().signIn(owner, organisationId);
    const add = (role: Role) => http().addMember(ownerCaller, organisationId, role);
    return {
      organisationId,
      owner: ownerCaller,
      admin: await add('admin'),
      editor: await add('editor'),
      viewer: await add('viewer'),
      auditor: await add('auditor'),
    };
  };

  /** Runs `request` and asserts the organisation's stream did not move. */
  const appendsNothing = async <T>(organisationId: string, request: () => Promise<T>) => {
    const before = await streamLength(t.store, organisationId);
    const result = await request();
    expect(await streamLength(t.store, organisationId)).toBe(before);
    return result;
  };

  beforeAll(async () => {
    cast = await castOf();
    const created = await createOrganisation(t.db, 'Other Org');
    const otherOwner = await http().signIn(created.owner, created.organisationId);
    other = {
      organisationId: created.organisationId,
      owner: otherOwner,
      member: await http().addMember(otherOwner, created.organisationId, 'editor'),
    };
  });

  describe('GET /v1/users', () => {
    it('lists the organisation’s members with id, email, name, role and status', async () => {
      const res = await http().send('GET', '/v1/users', cast.admin);
      expect(res.status).toBe(200);
      const { items } = res.json() as { items: Record<string, unknown>[] };
      expect(items).toHaveLength(5);
      expect(items).toContainEqual({
        id: cast.editor.id,
        email: cast.editor.email,
        name: 'The editor',
        role: 'editor',
        status: 'active',
      });
      expect(items.map((u) => u.id)).not.toContain(other.member.id);
      expect(Object.keys(items[0]).sort()).toEqual(['email', 'id', 'name', 'role', 'status']);
    });
  });

  describe('every role against every operation', () => {
    const refused = ['editor', 'viewer', 'auditor'] as const;

    it.each(refused)('refuses a %s everything, 403, appending nothing', async (role) => {
      const caller = cast[role];
      const target = cast.viewer.id;
      const attempts: [string, string, unknown][] = [
        ['GET', '/v1/users', undefined],
        [
          'POST',
          '/v1/users',
          {
            email: `x-${randomUUID()}@example.test`,
            name: 'X',
            role: 'viewer',
            password: PASSWORD,
          },
        ],
        ['PATCH', `/v1/users/${target}`, { name: 'Renamed' }],
        ['POST', `/v1/users/${target}/deactivate`, undefined],
        ['POST', `/v1/users/${target}/reactivate`, undefined],
      ];
      for (const [method, path, body] of attempts) {
        const res = await appendsNothing(cast.organisationId, () =>
          http().send(method, path, caller, body),
        );
        expect([method, path, res.status]).toEqual([method, path, 403]);
        expect(res.json()).toMatchObject({ code: 'FORBIDDEN', status: 403 });
      }
    });

    it.each(['owner', 'admin'] as const)('lets an %s do every operation', async (role) => {
      const caller = cast[role];
      const email = `new-${randomUUID()}@example.test`;
      const added = await http().send('POST', '/v1/users', caller, {
        email,
        name: 'New Person',
        role: 'viewer',
        password: PASSWORD,
      });
      expect(added.status).toBe(201);
      const { id } = added.json() as { id: string };
      expect(Object.keys(added.json() as object)).toEqual(['id']);

      const patched = await http().send('PATCH', `/v1/users/${id}`, caller, {
        name: 'Newer Person',
        role: 'editor',
      });
      expect(patched.status).toBe(200);
      expect(patched.json()).toEqual({
        id,
        email,
        name: 'Newer Person',
        role: 'editor',
        status: 'active',
      });
      const deactivated = await http().send('POST', `/v1/users/${id}/deactivate`, caller);
      expect([deactivated.status, deactivated.body]).toEqual([204, '']);
      const reactivated = await http().send('POST', `/v1/users/${id}/reactivate`, caller);
      expect(reactivated.status).toBe(204);
      const listed = await http().send('GET', '/v1/users', caller);
      expect((listed.json() as { items: unknown[] }).items).toContainEqual({
        id,
        email,
        name: 'Newer Person',
        role: 'editor',
        status: 'active',
      });
    });

    it('lets an admin API key manage users, recording the key as the actor', async () => {
      const key = await http().issueKey(cast.owner, 'admin');
      const res = await http().send('PATCH', `/v1/users/${cast.auditor.id}`, key, {
        name: 'Audrey',
      });
      expect(res.status).toBe(200);
      const events = await t.store.readStream(
        `organisation-${cast.organisationId}.${cast.organisationId}`,
        { direction: 'backwards', maxCount: 1 },
      );
      expect(events[0]).toMatchObject({
        type: 'UserRenamed',
        metadata: { actorType: 'api_key', actorId: key.id, organisationId: cast.organisationId },
      });
      expect(events[0].metadata.requestId).toBe(res.headers['x-request-id']);
    });
  });

  describe('owner is only an owner’s to give or take', () => {
    it('refuses an admin adding an owner, making one, demoting, renaming or deactivating one', async () => {
      const attempts: [string, string, unknown][] = [
        [
          'POST',
          '/v1/users',
          { email: `o-${randomUUID()}@example.test`, name: 'O', role: 'owner', password: PASSWORD },
        ],
        ['PATCH', `/v1/users/${cast.editor.id}`, { role: 'owner' }],
        ['PATCH', `/v1/users/${cast.owner.id}`, { role: 'admin' }],
        ['PATCH', `/v1/users/${cast.owner.id}`, { name: 'Boss' }],
        ['POST', `/v1/users/${cast.owner.id}/deactivate`, undefined],
      ];
      for (const [method, path, body] of attempts) {
        const res = await appendsNothing(cast.organisationId, () =>
          http().send(method, path, cast.admin, body),
        );
        expect([method, path, res.status]).toEqual([method, path, 403]);
      }
    });

    it('lets an owner make another owner, and keeps the last active owner', async () => {
      const { organisationId, owner } = await createOrganisation(t.db);
      const ownerCaller = await http().signIn(owner, organisationId);
      const demoteSelf = await appendsNothing(organisationId, () =>
        http().send('PATCH', `/v1/users/${owner.id}`, ownerCaller, { role: 'admin' }),
      );
      expect(demoteSelf.status).toBe(409);
      expect(demoteSelf.json()).toMatchObject({ code: 'LAST_OWNER' });
      const second = await http().addMember(ownerCaller, organisationId, 'owner');
      const demoted = await http().send('PATCH', `/v1/users/${owner.id}`, second, {
        role: 'admin',
      });
      expect(demoted.status).toBe(200);
    });
  });

  describe('POST /v1/users', () => {
    it('answers 409 for an email already a member, however it is spelt', async () => {
      for (const email of [cast.editor.email, `  ${cast.editor.email.toUpperCase()} `]) {
        const res = await appendsNothing(cast.organisationId, () =>
          http().send('POST', '/v1/users', cast.owner, {
            email,
            name: 'Again',
            role: 'viewer',
            password: PASSWORD,
          }),
        );
        expect(res.status).toBe(409);
        expect(res.json()).toMatchObject({ code: 'MEMBER_EXISTS' });
      }
    });

    it('adds an existing account of another organisation with its own password kept', async () => {
      const res = await http().send('POST', '/v1/users', cast.owner, {
        email: other.member.email,
        name: 'Shared',
        role: 'viewer',
        password: 'an entirely different password here',
      });
      expect(res.status).toBe(201);
      expect(res.json()).toEqual({ id: other.member.id });
      // Same account, same password, now in two organisations with a role in each.
      const signedIn = await http().signIn(other.member, cast.organisationId);
      const me = await http().send('GET', '/v1/me', signedIn);
      expect(me.json()).toMatchObject({
        organisation: { id: cast.organisationId },
        role: 'viewer',
      });
    });

    it('refuses a password the policy refuses for a new account, creating nothing', async () => {
      const email = `weak-${randomUUID()}@example.test`;
      const res = await appendsNothing(cast.organisationId, () =>
        http().send('POST', '/v1/users', cast.owner, {
          email,
          name: 'Weak',
          role: 'viewer',
          password: 'short',
        }),
      );
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(res.body).not.toContain('short"');
      const { rows } = await t.db.app.query('SELECT 1 FROM users WHERE email = $1', [email]);
      expect(rows).toHaveLength(0);
    });

    it.each([
      ['an unknown field, named', { isAdmin: true }, /isAdmin/],
      ['an organisation in the body, named', { organisationId: randomUUID() }, /organisationId/],
      ['a malformed email', { email: 'nope' }, /email/],
      ['an unknown role', { role: 'superuser' }, /role/],
      ['a name that is not a string', { name: 42 }, /name/],
    ])('answers 400 for %s, appending nothing', async (_what, change, names) => {
      const body = {
        email: `v-${randomUUID()}@example.test`,
        name: 'Valid',
        role: 'viewer',
        password: PASSWORD,
        ...change,
      };
      const res = await appendsNothing(cast.organisationId, () =>
        http().send('POST', '/v1/users', cast.owner, body),
      );
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect((res.json() as { detail: string }).detail).toMatch(names);
      expect(res.body).not.toContain(PASSWORD);
    });
  });

  describe('ids and organisations', () => {
    it('answers a malformed id with 400 before anything else', async () => {
      for (const [method, path] of [
        ['PATCH', '/v1/users/not-a-uuid'],
        ['POST', '/v1/users/12345/deactivate'],
        ['POST', '/v1/users/x/reactivate'],
      ]) {
        const res = await http().send(
          method,
          path,
          cast.owner,
          method === 'PATCH' ? { name: 'X' } : undefined,
        );
        expect([path, res.status]).toEqual([path, 400]);
      }
    });

    it('answers another organisation’s user exactly as a random id (404), appending nothing', async () => {
      const attempts: [string, (id: string) => string, unknown][] = [
        ['PATCH', (id) => `/v1/users/${id}`, { name: 'Stolen' }],
        ['POST', (id) => `/v1/users/${id}/deactivate`, undefined],
        ['POST', (id) => `/v1/users/${id}/reactivate`, undefined],
      ];
      for (const [method, path, body] of attempts) {
        const before = await streamLength(t.store, other.organisationId);
        const theirs = await appendsNothing(cast.organisationId, () =>
          http().send(method, path(other.owner.id), cast.owner, body),
        );
        const random = await http().send(method, path(randomUUID()), cast.owner, body);
        expect(theirs.status).toBe(404);
        expect(withoutRequestId(theirs)).toEqual(withoutRequestId(random));
        expect(await streamLength(t.store, other.organisationId)).toBe(before);
      }
    });

    it('never lets a header or the query choose the organisation', async () => {
      const headers = {
        'x-organisation-id': other.organisationId,
        'x-org-id': other.organisationId,
      };
      const listed = await http().send(
        'GET',
        `/v1/users?organisationId=${other.organisationId}&org=${other.organisationId}`,
        cast.owner,
        undefined,
        headers,
      );
      expect(listed.status).toBe(200);
      const ids = (listed.json() as { items: { id: string }[] }).items.map((u) => u.id);
      expect(ids).toContain(cast.owner.id);
      expect(ids).not.toContain(other.owner.id);

      const otherBefore = await streamLength(t.store, other.organisationId);
      const added = await http().send(
        'POST',
        `/v1/users?organisationId=${other.organisationId}`,
        cast.owner,
        {
          email: `h-${randomUUID()}@example.test`,
          name: 'Here',
          role: 'viewer',
          password: PASSWORD,
        },
        headers,
      );
      expect(added.status).toBe(201);
      expect(await streamLength(t.store, other.organisationId)).toBe(otherBefore);
      const mine = await http().send('GET', '/v1/users', cast.owner);
      expect((mine.json() as { items: { id: string }[] }).items.map((u) => u.id)).toContain(
        (added.json() as { id: string }).id,
      );
    });
  });

  describe('changes bite on the very next request', () => {
    it('a deactivated user’s token fails at once and stays dead; reactivated, they sign in again', async () => {
      const member = await http().addMember(cast.owner, cast.organisationId, 'editor');
      expect((await http().send('GET', '/v1/me', member)).status).toBe(200);
      const deactivated = await http().send(
        'POST',
        `/v1/users/${member.id}/deactivate`,
        cast.admin,
      );
      expect(deactivated.status).toBe(204);
      expect((await http().send('GET', '/v1/me', member)).status).toBe(401);
      await http().send('POST', `/v1/users/${member.id}/reactivate`, cast.admin);
      // Deactivation ended the session: reactivation does not revive tokens issued before it.
      expect((await http().send('GET', '/v1/me', member)).status).toBe(401);
      const again = await http().signIn(member, cast.organisationId);
      expect((await http().send('GET', '/v1/me', again)).status).toBe(200);
    });

    it('a role change applies to the next request of that user', async () => {
      const member = await http().addMember(cast.owner, cast.organisationId, 'admin');
      expect((await http().send('GET', '/v1/users', member)).status).toBe(200);
      const demoted = await http().send('PATCH', `/v1/users/${member.id}`, cast.owner, {
        role: 'viewer',
      });
      expect(demoted.status).toBe(200);
      expect((await http().send('GET', '/v1/users', member)).status).toBe(403);
      expect((await http().send('GET', '/v1/me', member)).json()).toMatchObject({ role: 'viewer' });
    });
  });
});
