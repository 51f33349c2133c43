import { randomUUID } from 'node:crypto';
import { streamName } from '../../libs/event-store/src';
import type { HttpsResponse } from './support/https-request';
import {
  client,
  createOrganisation,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';

/** One organisation with a member of every role and API keys, made through the product's paths. */
interface Cast {
  readonly organisationId: string;
  readonly owner: Caller;
  readonly admin: Caller;
  readonly editor: Caller;
  readonly viewer: Caller;
  readonly auditor: Caller;
  readonly editorKey: Caller;
  readonly viewerKey: Caller;
  readonly auditorKey: Caller;
}

interface Written {
  readonly id: string;
  readonly version: number;
}

describe('contacts and interactions: the write side over HTTPS', () => {
  const t = useLiveSystem();
  const http = () => client(t.api);
  let cast: Cast;
  let other: { readonly organisationId: string; readonly owner: Caller };

  /** Every event of an organisation, in log order: "nothing appended" means this did not grow. */
  const logLength = async (organisationId: string) =>
    (await t.store.readAll({ filter: { organisationId } })).length;
  const contactEvents = (organisationId: string, contactId: string) =>
    t.store.readStream(streamName('contact', organisationId, contactId)).catch(() => []);

  /** Runs `request` and asserts that no organisation's log moved. */
  const appendsNothing = async (request: () => Promise<HttpsResponse>) => {
    const organisations = [cast.organisationId, other.organisationId];
    const before = await Promise.all(organisations.map(logLength));
    const res = await request();
    expect(await Promise.all(organisations.map(logLength))).toEqual(before);
    return res;
  };

  const create = async (caller: Caller, body: unknown = { firstName: 'Ada' }) => {
    const res = await http().send('POST', '/v1/contacts', caller, body);
    if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.body}`);
    return res.json() as Written;
  };
  const get = async (caller: Caller, id: string) => {
    const res = await http().send('GET', `/v1/contacts/${id}`, caller);
    expect(res.status).toBe(200);
    return res.json() as Record<string, unknown>;
  };
  const ifMatch = (version: number) => ({ 'if-match': `"${version}"` });
  const logCall = async (caller: Caller, contactId: string) => {
    const res = await http().send('POST', `/v1/contacts/${contactId}/interactions`, caller, {
      type: 'call',
      occurredAt: '2025-03-14T09:30:00Z',
    });
    if (res.status !== 201) throw new Error(`log failed: ${res.status} ${res.body}`);
    return res.json() as Written;
  };
  const expectProblem = (res: HttpsResponse, status: number, code: string, fields?: string[]) => {
    expect([res.status, res.headers['content-type']]).toEqual([
      status,
      expect.stringContaining('application/problem+json'),
    ]);
    expect(res.json()).toMatchObject({ status, code, ...(fields && { fields }) });
  };

  beforeAll(async () => {
    const { organisationId, owner } = await createOrganisation(t.db);
    const ownerCaller = await http().signIn(owner, organisationId);
    const add = (role: 'admin' | 'editor' | 'viewer' | 'auditor') =>
      http().addMember(ownerCaller, organisationId, role);
    cast = {
      organisationId,
      owner: ownerCaller,
      admin: await add('admin'),
      editor: await add('editor'),
      viewer: await add('viewer'),
      auditor: await add('auditor'),
      editorKey: await http().issueKey(ownerCaller, 'editor'),
      viewerKey: await http().issueKey(ownerCaller, 'viewer'),
      auditorKey: await http().issueKey(ownerCaller, 'auditor'),
    };
    const created = await createOrganisation(t.db, 'Other Org');
    other = {
      organisationId: created.organisationId,
      owner: await http().signIn(created.owner, created.organisationId),
    };
  });

  describe('POST /v1/contacts', () => {
    it('answers 201 {id, version} with Location and ETag, and stores the fields normalised', async () => {
      const res = await http().send('POST', '/v1/contacts', cast.editor, {
        firstName: '  Ada ',
        lastName: 'Lovelace',
        emails: [{ address: ' Ada@Example.COM ', label: 'work' }],
        phones: [{ number: '+44 20 7946 0958', label: 'office' }],
        company: 'Analytical Engines',
        address: { city: 'London', country: 'GB' },
        tags: ['vip', 'customer'],
        notes: 'Line one\nLine two',
        ownerUserId: cast.editor.id.toUpperCase(),
      });
      expect(res.status).toBe(201);
      const written = res.json() as Written;
      expect(Object.keys(written).sort()).toEqual(['id', 'version']);
      expect(written.version).toBe(0);
      expect(res.headers.location).toBe(`/v1/contacts/${written.id}`);
      expect(res.headers.etag).toBe('"0"');

      const contact = await get(cast.viewer, written.id);
      expect(contact).toMatchObject({
        id: written.id,
        version: 0,
        firstName: 'Ada',
        lastName: 'Lovelace',
        emails: [{ address: 'ada@example.com', label: 'work' }],
        phones: [{ number: '+442079460958', label: 'office' }],
        company: 'Analytical Engines',
        jobTitle: null,
        address: {
          line1: null,
          line2: null,
          city: 'London',
          region: null,
          postalCode: null,
          country: 'GB',
        },
        tags: ['vip', 'customer'],
        notes: 'Line one\nLine two',
        ownerUserId: cast.editor.id,
        archived: false,
        createdBy: cast.editor.id,
      });
      const [event] = await contactEvents(cast.organisationId, written.id);
      expect(event).toMatchObject({
        type: 'ContactCreated',
        metadata: {
          organisationId: cast.organisationId,
          actorId: cast.editor.id,
          actorType: 'user',
          requestId: res.headers['x-request-id'],
        },
      });
    });

    it('refuses an owner who is not an active member of this organisation, naming ownerUserId', async () => {
      for (const ownerUserId of [randomUUID(), other.owner.id]) {
        const res = await appendsNothing(() =>
          http().send('POST', '/v1/contacts', cast.editor, { firstName: 'Ada', ownerUserId }),
        );
        expectProblem(res, 400, 'VALIDATION_FAILED', ['ownerUserId']);
      }
    });
  });

  describe('PATCH /v1/contacts/{id}', () => {
    it('applies a partial update under If-Match and answers 200 {id, version} with ETag', async () => {
      const { id } = await create(cast.editor, { firstName: 'Ada', company: 'Old Co' });
      const res = await http().send(
        'PATCH',
        `/v1/contacts/${id}`,
        cast.editor,
        { lastName: 'Lovelace', company: null, firstName: 'Ada' },
        ifMatch(0),
      );
      expect([res.status, res.json(), res.headers.etag]).toEqual([200, { id, version: 1 }, '"1"']);
      const events = await contactEvents(cast.organisationId, id);
      expect(events).toHaveLength(2);
      expect(JSON.parse(Buffer.from(events[1].data).toString('utf8'))).toEqual({
        lastName: 'Lovelace',
        company: null,
      });
      const fetched = await http().send('GET', `/v1/contacts/${id}`, cast.viewer);
      expect(fetched.headers.etag).toBe('"1"');
      expect(fetched.json()).toMatchObject({
        firstName: 'Ada',
        lastName: 'Lovelace',
        company: null,
      });
    });

    it('answers 428 without If-Match, 412 when stale, 400 when malformed; nothing appended', async () => {
      const { id } = await create(cast.editor);
      await http().send('PATCH', `/v1/contacts/${id}`, cast.editor, { lastName: 'L' }, ifMatch(0));
      const patch = (headers: Record<string, string>) =>
        appendsNothing(() =>
          http().send('PATCH', `/v1/contacts/${id}`, cast.editor, { lastName: 'X' }, headers),
        );
      expectProblem(await patch({}), 428, 'PRECONDITION_REQUIRED');
      expectProblem(await patch(ifMatch(0)), 412, 'PRECONDITION_FAILED');
      expectProblem(await patch(ifMatch(7)), 412, 'PRECONDITION_FAILED');
      for (const malformed of ['1', 'W/"1"', '"one"', '*', '"1", "2"', '"-1"', '"01"']) {
        const res = await patch({ 'if-match': malformed });
        expect([malformed, res.status]).toEqual([malformed, 400]);
        expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: ['If-Match'] });
      }
      expect(await contactEvents(cast.organisationId, id)).toHaveLength(2);
    });

    it('lets exactly one of 10 concurrent PATCHes with the same If-Match win; the rest get 412', async () => {
      const { id } = await create(cast.editor);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          http().send(
            'PATCH',
            `/v1/contacts/${id}`,
            cast.editor,
            { jobTitle: `Title ${i}` },
            ifMatch(0),
          ),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([200, ...Array<number>(9).fill(412)]);
      const events = await contactEvents(cast.organisationId, id);
      expect(events).toHaveLength(2);
      const winner = answers.find((a) => a.status === 200)!;
      expect(winner.json()).toEqual({ id, version: 1 });
      const contact = await get(cast.viewer, id);
      const winnerIndex = answers.indexOf(winner);
      expect(contact.jobTitle).toBe(`Title ${winnerIndex}`);
    });

    it('refuses an empty body', async () => {
      const { id } = await create(cast.editor);
      for (const body of [{}, undefined]) {
        const res = await appendsNothing(() =>
          http().send('PATCH', `/v1/contacts/${id}`, cast.editor, body, ifMatch(0)),
        );
        expectProblem(res, 400, 'VALIDATION_FAILED');
      }
    });
  });

  describe('DELETE /v1/contacts/{id} and POST /v1/contacts/{id}/unarchive', () => {
    it('archives (204, also when archived already, with nothing appended) and unarchives (200)', async () => {
      const { id } = await create(cast.editor);
      const archived = await http().send('DELETE', `/v1/contacts/${id}`, cast.editor);
      expect([archived.status, archived.body]).toEqual([204, '']);
      expect(await get(cast.viewer, id)).toMatchObject({ archived: true, version: 1 });
      const again = await appendsNothing(() =>
        http().send('DELETE', `/v1/contacts/${id}`, cast.editor),
      );
      expect(again.status).toBe(204);

      const unarchived = await http().send('POST', `/v1/contacts/${id}/unarchive`, cast.editor);
      expect([unarchived.status, unarchived.json(), unarchived.headers.etag]).toEqual([
        200,
        { id, version: 2 },
        '"2"',
      ]);
      expect(await get(cast.viewer, id)).toMatchObject({ archived: false, version: 2 });
    });

    it('an archived contact takes no interaction and no update (409 CONTACT_ARCHIVED)', async () => {
      const { id } = await create(cast.editor);
      await http().send('DELETE', `/v1/contacts/${id}`, cast.editor);
      const logged = await appendsNothing(() =>
        http().send('POST', `/v1/contacts/${id}/interactions`, cast.editor, { type: 'note' }),
      );
      expectProblem(logged, 409, 'CONTACT_ARCHIVED');
      const patched = await appendsNothing(() =>
        http().send('PATCH', `/v1/contacts/${id}`, cast.editor, { firstName: 'B' }, ifMatch(1)),
      );
      expectProblem(patched, 409, 'CONTACT_ARCHIVED');
    });

    it('honours an If-Match on archive when given', async () => {
      const { id } = await create(cast.editor);
      await http().send('PATCH', `/v1/contacts/${id}`, cast.editor, { lastName: 'L' }, ifMatch(0));
      const stale = await appendsNothing(() =>
        http().send('DELETE', `/v1/contacts/${id}`, cast.editor, undefined, ifMatch(0)),
      );
      expectProblem(stale, 412, 'PRECONDITION_FAILED');
    });
  });

  describe('POST /v1/contacts/{id}/merge', () => {
    it('archives the source as merged into the target, which takes over what it lacked', async () => {
      const target = await create(cast.editor, {
        firstName: 'Ada',
        emails: [{ address: 'ada@example.com' }],
        tags: ['vip'],
      });
      const source = await create(cast.editor, {
        firstName: 'A.',
        lastName: 'Lovelace',
        emails: [{ address: 'ADA@example.com' }, { address: 'ada@home.example' }],
        tags: ['vip', 'maths'],
        company: 'Analytical Engines',
      });
      const res = await http().send('POST', `/v1/contacts/${target.id}/merge`, cast.editor, {
        sourceId: source.id,
      });
      expect([res.status, res.json(), res.headers.etag]).toEqual([
        200,
        { id: target.id, version: 1 },
        '"1"',
      ]);
      expect(await get(cast.viewer, target.id)).toMatchObject({
        firstName: 'Ada',
        lastName: null,
        emails: [{ address: 'ada@example.com' }, { address: 'ada@home.example' }],
        tags: ['vip', 'maths'],
        company: 'Analytical Engines',
        archived: false,
      });
      expect(await get(cast.viewer, source.id)).toMatchObject({
        archived: true,
        mergedInto: target.id,
        firstName: 'A.',
      });
      // Both halves in one append (one transaction), the target's first.
      const [received] = (await contactEvents(cast.organisationId, target.id)).slice(1);
      const [merged] = (await contactEvents(cast.organisationId, source.id)).slice(1);
      expect([received.type, merged.type]).toEqual(['ContactMergeReceived', 'ContactMerged']);
      expect(received.position.commit).toBe(merged.position.commit);
      expect(received.position.prepare < merged.position.prepare).toBe(true);
      expect(received.metadata.requestId).toBe(merged.metadata.requestId);

      // Repeating it appends nothing and answers the same.
      const again = await appendsNothing(() =>
        http().send('POST', `/v1/contacts/${target.id}/merge`, cast.editor, {
          sourceId: source.id,
        }),
      );
      expect([again.status, again.json()]).toEqual([200, { id: target.id, version: 1 }]);
      // A merged contact stays archived.
      const unarchive = await appendsNothing(() =>
        http().send('POST', `/v1/contacts/${source.id}/unarchive`, cast.editor),
      );
      expectProblem(unarchive, 409, 'INVALID_STATE');
    });

    it('refuses a merge into itself (400) and into an archived contact (409), appending nothing', async () => {
      const target = await create(cast.editor);
      const source = await create(cast.editor);
      const itself = await appendsNothing(() =>
        http().send('POST', `/v1/contacts/${target.id}/merge`, cast.editor, {
          sourceId: target.id,
        }),
      );
      expectProblem(itself, 400, 'VALIDATION_FAILED', ['sourceId']);
      await http().send('DELETE', `/v1/contacts/${target.id}`, cast.editor);
      const intoArchived = await appendsNothing(() =>
        http().send('POST', `/v1/contacts/${target.id}/merge`, cast.editor, {
          sourceId: source.id,
        }),
      );
      expectProblem(intoArchived, 409, 'CONTACT_ARCHIVED');
      for (const body of [{}, { sourceId: 'not-a-uuid' }, { sourceId: 7 }]) {
        const res = await appendsNothing(() =>
          http().send('POST', `/v1/contacts/${source.id}/merge`, cast.editor, body),
        );
        expectProblem(res, 400, 'VALIDATION_FAILED', ['sourceId']);
      }
    });
  });

  describe('interactions', () => {
    it('logs (201 with Location and ETag), updates under If-Match (200) and removes (204)', async () => {
      const { id } = await create(cast.editor);
      const logged = await http().send('POST', `/v1/contacts/${id}/interactions`, cast.editor, {
        type: 'task',
        subject: ' Send the proposal ',
        dueAt: '2025-03-21T17:00:00+01:00',
      });
      expect(logged.status).toBe(201);
      const { id: interactionId, version } = logged.json() as Written;
      expect(interactionId).not.toBe(id);
      expect(version).toBe(1);
      expect(logged.headers.location).toBe(`/v1/contacts/${id}/interactions/${interactionId}`);
      expect(logged.headers.etag).toBe('"1"');
      const [, event] = await contactEvents(cast.organisationId, id);
      expect(JSON.parse(Buffer.from(event.data).toString('utf8'))).toEqual({
        interactionId,
        type: 'task',
        occurredAt: expect.any(String),
        subject: 'Send the proposal',
        body: null,
        direction: null,
        durationSeconds: null,
        dueAt: '2025-03-21T16:00:00.000Z',
        completed: false,
      });

      const path = `/v1/contacts/${id}/interactions/${interactionId}`;
      const patched = await http().send(
        'PATCH',
        path,
        cast.editor,
        { completed: true },
        ifMatch(1),
      );
      expect([patched.status, patched.json(), patched.headers.etag]).toEqual([
        200,
        { id: interactionId, version: 2 },
        '"2"',
      ]);
      const without = await appendsNothing(() =>
        http().send('PATCH', path, cast.editor, { completed: false }),
      );
      expectProblem(without, 428, 'PRECONDITION_REQUIRED');
      const stale = await appendsNothing(() =>
        http().send('PATCH', path, cast.editor, { completed: false }, ifMatch(1)),
      );
      expectProblem(stale, 412, 'PRECONDITION_FAILED');
      const empty = await appendsNothing(() =>
        http().send('PATCH', path, cast.editor, {}, ifMatch(2)),
      );
      expectProblem(empty, 400, 'VALIDATION_FAILED');

      const removed = await http().send('DELETE', path, cast.editor);
      expect([removed.status, removed.body]).toEqual([204, '']);
      const again = await appendsNothing(() => http().send('DELETE', path, cast.editor));
      expectProblem(again, 404, 'NOT_FOUND');
      const unknown = await appendsNothing(() =>
        http().send(
          'PATCH',
          `/v1/contacts/${id}/interactions/${randomUUID()}`,
          cast.editor,
          { subject: 'x' },
          ifMatch(3),
        ),
      );
      expectProblem(unknown, 404, 'NOT_FOUND');
    });

    it('refuses interaction fields out of their rules, naming the field', async () => {
      const { id } = await create(cast.editor);
      const cases: [unknown, string][] = [
        [{}, 'type'],
        [{ type: 'fax' }, 'type'],
        [{ type: 'call', occurredAt: 'yesterday' }, 'occurredAt'],
        [{ type: 'call', occurredAt: '2025-03-14' }, 'occurredAt'],
        [{ type: 'call', durationSeconds: -1 }, 'durationSeconds'],
        [{ type: 'call', durationSeconds: 1.5 }, 'durationSeconds'],
        [{ type: 'call', durationSeconds: 7 * 86_400 + 1 }, 'durationSeconds'],
        [{ type: 'call', direction: 'sideways' }, 'direction'],
        [{ type: 'call', dueAt: '2025-03-14T09:30:00Z' }, 'dueAt'],
        [{ type: 'task', completed: 'yes' }, 'completed'],
        [{ type: 'note', subject: 's'.repeat(501) }, 'subject'],
        [{ type: 'note', body: 'b'.repeat(20_001) }, 'body'],
      ];
      for (const [body, field] of cases) {
        const res = await appendsNothing(() =>
          http().send('POST', `/v1/contacts/${id}/interactions`, cast.editor, body),
        );
        expect([body, res.status]).toEqual([body, 400]);
        expect((res.json() as { fields: string[] }).fields).toContain(field);
      }
    });
  });

  /**
   * Every write of both sections, against a contact at version 1 (created, one interaction
   * logged), in an order in which each succeeds for an allowed caller: the If-Match values are the
   * versions the contact has by then.
   */
  const writes = (contactId: string, sourceId: string, interactionId: string) =>
    [
      ['POST', '/v1/contacts', { firstName: 'New' }, {}],
      [
        'PATCH',
        `/v1/contacts/${contactId}/interactions/${interactionId}`,
        { subject: 'Re' },
        ifMatch(1),
      ],
      ['DELETE', `/v1/contacts/${contactId}/interactions/${interactionId}`, undefined, {}],
      ['PATCH', `/v1/contacts/${contactId}`, { jobTitle: 'CTO' }, ifMatch(3)],
      ['POST', `/v1/contacts/${contactId}/interactions`, { type: 'note', body: 'hi' }, {}],
      ['DELETE', `/v1/contacts/${contactId}`, undefined, {}],
      ['POST', `/v1/contacts/${contactId}/unarchive`, undefined, {}],
      ['POST', `/v1/contacts/${contactId}/merge`, { sourceId }, {}],
    ] as const;

  describe('every role against every write', () => {
    const refused = ['viewer', 'auditor', 'viewerKey', 'auditorKey'] as const;
    it.each(refused)('refuses a %s every write: 403, nothing appended', async (who) => {
      const { id } = await create(cast.editor);
      const source = await create(cast.editor);
      const { id: interactionId } = await logCall(cast.editor, id);
      for (const [method, path, body, headers] of writes(id, source.id, interactionId)) {
        const res = await appendsNothing(() => http().send(method, path, cast[who], body, headers));
        expect([method, path, res.status]).toEqual([method, path, 403]);
        expect(res.json()).toMatchObject({ code: 'FORBIDDEN' });
      }
      expect(await get(cast.viewer, id)).toMatchObject({ version: 1, jobTitle: null });
    });

    const allowed = ['owner', 'admin', 'editor', 'editorKey'] as const;
    it.each(allowed)('lets a %s do every write, recorded as its actor', async (who) => {
      const { id } = await create(cast.editor);
      const source = await create(cast.editor);
      const { id: interactionId } = await logCall(cast.editor, id);
      const expected = [201, 200, 204, 200, 201, 204, 200, 200];
      const statuses: number[] = [];
      for (const [method, path, body, headers] of writes(id, source.id, interactionId)) {
        const res = await http().send(method, path, cast[who], body, headers);
        statuses.push(res.status);
      }
      expect(statuses).toEqual(expected);
      const events = await contactEvents(cast.organisationId, id);
      expect(events.map((e) => e.type)).toEqual([
        'ContactCreated',
        'InteractionLogged',
        'InteractionUpdated',
        'InteractionRemoved',
        'ContactUpdated',
        'InteractionLogged',
        'ContactArchived',
        'ContactUnarchived',
        'ContactMergeReceived',
      ]);
      const actor = who === 'editorKey' ? 'api_key' : 'user';
      for (const event of events.slice(2))
        expect(event.metadata).toMatchObject({ actorId: cast[who].id, actorType: actor });
    });
  });

  describe('another organisation’s contacts', () => {
    it('answers 404 to every write on them, as for an id that does not exist, and changes nothing', async () => {
      const { id } = await create(cast.editor, {
        firstName: 'Ada',
        emails: [{ address: 'a@b.co' }],
      });
      const source = await create(cast.editor);
      const { id: interactionId } = await logCall(cast.editor, id);
      const before = await get(cast.viewer, id);
      const own = await create(other.owner);
      const attempts = [
        ...writes(id, source.id, interactionId).slice(1),
        // Their own contact as target, ours as the source.
        ['POST', `/v1/contacts/${own.id}/merge`, { sourceId: id }, {}] as const,
      ];
      for (const [method, path, body, headers] of attempts) {
        const res = await appendsNothing(() =>
          http().send(method, path, other.owner, body, headers),
        );
        expect([method, path, res.status]).toEqual([method, path, 404]);
        const random = await http().send(
          method,
          path.replace(id, randomUUID()),
          other.owner,
          body,
          headers,
        );
        if (!path.startsWith(`/v1/contacts/${own.id}`))
          expect(withoutRequestId(res)).toEqual(withoutRequestId(random));
      }
      expect(await get(cast.viewer, id)).toEqual(before);
      expect(await get(cast.viewer, source.id)).toMatchObject({ archived: false, version: 0 });
      expect(await get(other.owner, own.id)).toMatchObject({ version: 0, archived: false });
    });
  });

  describe('malformed requests', () => {
    let id: string;
    beforeAll(async () => {
      ({ id } = await create(cast.editor));
    });

    it('refuses an unknown field, naming it', async () => {
      const res = await appendsNothing(() =>
        http().send('POST', '/v1/contacts', cast.editor, { firstName: 'Ada', nickname: 'Ad' }),
      );
      expectProblem(res, 400, 'VALIDATION_FAILED', ['nickname']);
      expect((res.json() as { detail: string }).detail).toContain('nickname');
      const nested = await appendsNothing(() =>
        http().send('POST', '/v1/contacts', cast.editor, {
          emails: [{ address: 'a@b.co', primary: true }],
        }),
      );
      expectProblem(nested, 400, 'VALIDATION_FAILED');
      expect((nested.json() as { fields: string[] }).fields).toEqual(['emails[0].primary']);
    });

    it('refuses __proto__, constructor and prototype keys at any depth, and nothing is polluted', async () => {
      const bodies = [
        '{"firstName":"Ada","__proto__":{"polluted":"yes"}}',
        '{"firstName":"Ada","constructor":{"prototype":{"polluted":"yes"}}}',
        '{"emails":[{"address":"a@b.co","__proto__":{"polluted":"yes"}}]}',
        '{"address":{"city":"X","constructor":{"prototype":{"polluted":"yes"}}}}',
      ];
      for (const raw of bodies) {
        for (const [method, path, headers] of [
          ['POST', '/v1/contacts', {}],
          ['PATCH', `/v1/contacts/${id}`, ifMatch(0)],
        ] as const) {
          const res = await appendsNothing(() =>
            t.api.request(path, {
              method,
              headers: {
                authorization: cast.editor.authorization,
                'content-type': 'application/json',
                ...headers,
              },
              body: raw,
            }),
          );
          expect([raw, res.status]).toEqual([raw, 400]);
          expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
        }
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('answers 415 to a body that is not JSON, 413 to one over 256 KiB, 400 to broken JSON', async () => {
      const asText = await appendsNothing(() =>
        t.api.request('/v1/contacts', {
          method: 'POST',
          headers: { authorization: cast.editor.authorization, 'content-type': 'text/plain' },
          body: '{"firstName":"Ada"}',
        }),
      );
      expectProblem(asText, 415, 'UNSUPPORTED_MEDIA_TYPE');
      const large = await appendsNothing(() =>
        http().send('POST', '/v1/contacts', cast.editor, { notes: 'x'.repeat(257 * 1024) }),
      );
      expectProblem(large, 413, 'PAYLOAD_TOO_LARGE');
      const broken = await appendsNothing(() =>
        t.api.request('/v1/contacts', {
          method: 'POST',
          headers: {
            authorization: cast.editor.authorization,
            'content-type': 'application/json',
          },
          body: '{"firstName":',
        }),
      );
      expectProblem(broken, 400, 'MALFORMED_JSON');
    });

    it('answers 400 to a malformed id in any path', async () => {
      const bad = ['not-a-uuid', '1', `${randomUUID()}x`, "1' OR '1'='1"];
      for (const b of bad.map(encodeURIComponent)) {
        for (const [method, path, body, headers] of [
          ['PATCH', `/v1/contacts/${b}`, { firstName: 'X' }, ifMatch(0)],
          ['DELETE', `/v1/contacts/${b}`, undefined, {}],
          ['POST', `/v1/contacts/${b}/unarchive`, undefined, {}],
          ['POST', `/v1/contacts/${b}/merge`, { sourceId: id }, {}],
          ['POST', `/v1/contacts/${b}/interactions`, { type: 'note' }, {}],
          ['PATCH', `/v1/contacts/${id}/interactions/${b}`, { subject: 'x' }, ifMatch(0)],
          ['DELETE', `/v1/contacts/${id}/interactions/${b}`, undefined, {}],
        ] as const) {
          const res = await appendsNothing(() =>
            http().send(method, path, cast.editor, body, headers),
          );
          expect([method, path, res.status]).toEqual([method, path, 400]);
          expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
        }
      }
    });

    it('refuses invalid emails and phone numbers without echoing them', async () => {
      const canary = 'canary-7f3a9c';
      const cases: unknown[] = [
        { emails: [{ address: `${canary}-not-an-address` }] },
        { emails: [{ address: `${canary}@` }] },
        { emails: [{ address: 42 }] },
        { emails: [{ label: 'work' }] },
        { emails: `${canary}@example.com` },
        { phones: [{ number: `${canary}` }] },
        { phones: [{ number: '12345' }] },
        { phones: [{ number: '020 7946 0958' }] },
        { phones: [{ number: '+44 20' }] },
        { phones: [{ number: '+999 1234 5678' }] },
      ];
      for (const body of cases) {
        const res = await appendsNothing(() =>
          http().send('POST', '/v1/contacts', cast.editor, body),
        );
        expect([body, res.status]).toEqual([body, 400]);
        // Named by path: `emails[0].address`, or `emails` when the list itself is wrong.
        const field = Object.keys(body as object)[0];
        expect((res.json() as { fields: string[] }).fields).toEqual([
          expect.stringMatching(new RegExp(`^${field}(\\[0\\]\\.\\w+)?$`)),
        ]);
        expect(res.body).not.toContain(canary);
      }
      const repeated = await appendsNothing(() =>
        http().send('POST', '/v1/contacts', cast.editor, {
          phones: [{ number: '+44 20 7946 0958' }, { number: '+442079460958' }],
        }),
      );
      expectProblem(repeated, 400, 'VALIDATION_FAILED', ['phones[1].number']);
    });

    it('enforces the documented limits', async () => {
      const emails = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ address: `a${i}@example.com` }));
      const phones = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          number: `+4420794609${String(i).padStart(2, '0')}`,
        }));
      const tags = (n: number) => Array.from({ length: n }, (_, i) => `tag-${i}`);
      const over: [Record<string, unknown>, string][] = [
        [{ emails: emails(21) }, 'emails'],
        [{ phones: phones(21) }, 'phones'],
        [{ tags: tags(51) }, 'tags'],
        [{ tags: ['t'.repeat(51)] }, 'tags'],
        [{ notes: 'n'.repeat(20_001) }, 'notes'],
        [{ firstName: 'f'.repeat(201) }, 'firstName'],
        [{ company: 'c'.repeat(201) }, 'company'],
        [{ address: { city: 'c'.repeat(201) } }, 'address.city'],
        [{ emails: [{ address: 'a@example.com', label: 'l'.repeat(51) }] }, 'emails[0].label'],
        [{ firstName: 5 }, 'firstName'],
        [{ firstName: '' }, 'firstName'],
        [{ tags: 'vip' }, 'tags'],
        [{ ownerUserId: 'not-a-uuid' }, 'ownerUserId'],
      ];
      for (const [body, field] of over) {
        const res = await appendsNothing(() =>
          http().send('POST', '/v1/contacts', cast.editor, body),
        );
        expect([field, res.status]).toEqual([field, 400]);
        expect((res.json() as { fields: string[] }).fields).toEqual([field]);
      }
      const atLimits = await create(cast.editor, {
        emails: emails(20),
        phones: phones(20),
        tags: tags(50),
        notes: 'n'.repeat(20_000),
      });
      expect(atLimits.version).toBe(0);
    });
  });
});
