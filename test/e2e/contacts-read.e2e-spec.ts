import { randomUUID } from 'node:crypto';
import { withOrganisation } from '../../libs/database/src';
import { PostgresEventStore, streamName } from '../../libs/event-store/src';
import { testMasterKeyProvider } from '../../libs/crypto/src/testing/test-master-key';
import {
  CONTACTS_PROJECTION,
  CheckpointWait,
  PROJECTIONS,
  startPostgresProjector,
} from '../../libs/read-model/src';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../libs/database/src/testing/test-database';
import type { HttpsResponse } from './support/https-request';
import {
  client,
  createOrganisation,
  useLiveSystem,
  withoutRequestId,
  type Caller,
} from './support/live-organisation';
import { startTestApi, type TestApi } from './support/test-api';

interface Written {
  readonly id: string;
  readonly version: number;
}

interface Contact {
  readonly id: string;
  readonly version: number;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly company: string | null;
  readonly tags: string[];
  readonly archived: boolean;
  readonly mergedInto?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly createdBy: string;
  readonly updatedBy: string;
  readonly [field: string]: unknown;
}

interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

interface Interaction {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly subject: string | null;
  readonly [field: string]: unknown;
}

/** Writes and reads over HTTPS, as any API client makes them. */
function contactsApi(api: () => TestApi) {
  const http = () => client(api());
  const expectStatus = (res: HttpsResponse, status: number) => {
    if (res.status !== status) throw new Error(`expected ${status}: ${res.status} ${res.body}`);
    return res;
  };
  return {
    http,
    create: async (caller: Caller, body: Record<string, unknown> = { firstName: 'Ada' }) =>
      expectStatus(await http().send('POST', '/v1/contacts', caller, body), 201).json() as Written,
    update: async (caller: Caller, id: string, version: number, body: Record<string, unknown>) =>
      expectStatus(
        await http().send('PATCH', `/v1/contacts/${id}`, caller, body, {
          'if-match': `"${version}"`,
        }),
        200,
      ),
    logInteraction: async (caller: Caller, id: string, body: Record<string, unknown>) =>
      expectStatus(
        await http().send('POST', `/v1/contacts/${id}/interactions`, caller, body),
        201,
      ).json() as Written,
    get: (caller: Caller, path: string) => http().send('GET', path, caller),
    contact: async (caller: Caller, id: string, query = '') =>
      expectStatus(
        await http().send('GET', `/v1/contacts/${id}${query}`, caller),
        200,
      ).json() as Contact,
  };
}

const expectProblem = (res: HttpsResponse, status: number, code: string, fields?: string[]) => {
  expect([res.status, res.headers['content-type']]).toEqual([
    status,
    expect.stringContaining('application/problem+json'),
  ]);
  expect(res.json()).toMatchObject({ status, code, ...(fields && { fields }) });
};

describe('contacts and interactions: the read side over HTTPS', () => {
  const t = useLiveSystem();
  const api = contactsApi(() => t.api);
  const { http } = api;

  /** Until the contacts read model has applied everything in the log so far. */
  const settled = async () => {
    const [last] = await t.store.readAll({ direction: 'backwards', maxCount: 1 });
    await new CheckpointWait(t.db.app).until(CONTACTS_PROJECTION, last.position);
  };

  /** A fresh organisation with an editor (who writes) and the owner. */
  const organisation = async (name = 'Acme') => {
    const { organisationId, owner } = await createOrganisation(t.db, name);
    const ownerCaller = await http().signIn(owner, organisationId);
    const editor = await http().addMember(ownerCaller, organisationId, 'editor');
    return { organisationId, owner: ownerCaller, editor };
  };

  const list = async (caller: Caller, query = '') => {
    const res = await api.get(caller, `/v1/contacts${query}`);
    if (res.status !== 200) throw new Error(`list failed: ${res.status} ${res.body}`);
    return res.json() as Page<Contact>;
  };
  const names = (page: Page<Contact>) => page.items.map((c) => c.firstName);

  /** Every page of a list, following nextCursor. */
  const allPages = async (caller: Caller, query: string, limit: number) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const after: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await list(caller, `?${query}&limit=${limit}${after}`);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      ids.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 100);
    return { ids, pages };
  };

  describe('GET /v1/contacts/{id}', () => {
    it('answers the contact with its server fields and ETag: "<version>"', async () => {
      const { organisationId, editor } = await organisation();
      const written = await api.create(editor, {
        firstName: 'Ada',
        lastName: 'Lovelace',
        emails: [{ address: 'Ada@Example.com', label: 'work' }],
        phones: [{ number: '+44 20 7946 0958' }],
        company: 'Analytical Engines',
        address: { city: 'London', country: 'GB' },
        tags: ['vip'],
        notes: 'Met at a ball',
      });
      const res = await api.get(editor, `/v1/contacts/${written.id}`);
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('"0"');
      const contact = res.json() as Contact;
      expect(contact).toEqual({
        id: written.id,
        version: 0,
        firstName: 'Ada',
        lastName: 'Lovelace',
        emails: [{ address: 'ada@example.com', label: 'work' }],
        phones: [{ number: '+442079460958' }],
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
        tags: ['vip'],
        notes: 'Met at a ball',
        ownerUserId: null,
        archived: false,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        updatedAt: contact.createdAt,
        createdBy: editor.id,
        updatedBy: editor.id,
      });

      const [created] = await t.store.readStream(streamName('contact', organisationId, written.id));
      expect(contact.createdAt).toBe(created.recordedAt.toISOString());
    });

    it('shows who changed it last, archived, and mergedInto once merged', async () => {
      const { editor, owner } = await organisation();
      const source = await api.create(editor, { firstName: 'Augusta' });
      const target = await api.create(editor, { firstName: 'Ada' });
      await api.update(owner, target.id, 0, { jobTitle: 'Mathematician' });
      const updated = await api.contact(editor, target.id);
      expect(updated).toMatchObject({
        version: 1,
        jobTitle: 'Mathematician',
        createdBy: editor.id,
        updatedBy: owner.id,
      });
      expect(updated.updatedAt >= updated.createdAt).toBe(true);
      expect(updated).not.toHaveProperty('mergedInto');

      const merged = await http().send('POST', `/v1/contacts/${target.id}/merge`, editor, {
        sourceId: source.id,
      });
      expect(merged.status).toBe(200);
      const after = await api.contact(editor, source.id);
      expect(after).toMatchObject({ archived: true, mergedInto: target.id, version: 1 });
      await settled();
      // The same from the read model as from the fold.
      expect(await api.contact(editor, source.id)).toEqual(after);
    });

    it('answers 404 alike for an unknown id and another organisation’s contact; 400 for a malformed id', async () => {
      const mine = await organisation();
      const theirs = await organisation('Other Org');
      const theirContact = await api.create(theirs.editor);
      await settled();

      const unknown = await api.get(mine.editor, `/v1/contacts/${randomUUID()}`);
      const foreign = await api.get(mine.editor, `/v1/contacts/${theirContact.id}`);
      expectProblem(unknown, 404, 'NOT_FOUND');
      expect(withoutRequestId(foreign)).toEqual(withoutRequestId(unknown));
      for (const path of ['history', 'interactions']) {
        const res = await api.get(mine.editor, `/v1/contacts/${theirContact.id}/${path}`);
        expect(withoutRequestId(res)).toEqual(withoutRequestId(unknown));
      }
      expect(foreign.headers.etag).toBeUndefined();
      expectProblem(
        await api.get(mine.editor, '/v1/contacts/not-a-uuid'),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await api.get(mine.editor, `/v1/contacts/${theirContact.id}?fields=all`),
        400,
        'VALIDATION_FAILED',
        ['fields'],
      );
    });

    it('reflects every acknowledged write at once: the version written or later', async () => {
      const { editor } = await organisation();
      const { id, version: created } = await api.create(editor, { firstName: 'Ada' });
      let version = created;
      for (let i = 1; i <= 15; i += 1) {
        expect((await api.contact(editor, id)).version).toBeGreaterThanOrEqual(version);
        const res = await api.update(editor, id, version, { notes: `note ${i}` });
        ({ version } = res.json() as Written);
        const read = await api.contact(editor, id);
        expect(read).toMatchObject({ version, notes: `note ${i}` });
        const logged = await api.logInteraction(editor, id, { type: 'note', body: `n${i}` });
        ({ version } = logged);
        expect((await api.contact(editor, id)).version).toBe(version);
      }
    });

    it('folds the stream when the row is missing or behind it, and reads the row when current', async () => {
      const { organisationId, editor } = await organisation();
      const { id } = await api.create(editor, { firstName: 'Ada', tags: ['vip'] });
      await api.update(editor, id, 0, { lastName: 'Lovelace' });
      await settled();
      const current = await api.contact(editor, id);
      const tamper = (sql: string) =>
        withOrganisation(t.db.app, organisationId, (c) => c.query(sql, [id]));

      // A row at the stream's head is what answers (the read model is really read)...
      await tamper(`UPDATE contacts SET first_name = 'From the row' WHERE contact_id = $1`);
      expect((await api.contact(editor, id)).firstName).toBe('From the row');
      // ...a row behind the head is not: the stream's fold answers, field for field as the row did.
      await tamper(
        `UPDATE contacts SET revision = 0, first_name = 'Stale', last_name = NULL WHERE contact_id = $1`,
      );
      expect(await api.contact(editor, id)).toEqual(current);
      await tamper(`DELETE FROM contacts WHERE contact_id = $1`);
      const folded = await api.get(editor, `/v1/contacts/${id}`);
      expect([folded.status, folded.headers.etag, folded.json()]).toEqual([200, '"1"', current]);
    });

    it('answers ?asOf= with the contact as it stood then: 404 before it existed, 400 for no moment', async () => {
      const { organisationId, editor } = await organisation();
      const { id } = await api.create(editor, { firstName: 'Ada', company: 'Engines' });
      await api.update(editor, id, 0, { firstName: 'Augusta', company: null });
      await api.logInteraction(editor, id, { type: 'call', subject: 'Hello' });
      const events = await t.store.readStream(streamName('contact', organisationId, id));
      const at = (i: number, offsetMs = 0) =>
        encodeURIComponent(new Date(events[i].recordedAt.getTime() + offsetMs).toISOString());

      const before = await api.get(editor, `/v1/contacts/${id}?asOf=${at(0, -1)}`);
      expectProblem(before, 404, 'NOT_FOUND');
      const first = await api.get(editor, `/v1/contacts/${id}?asOf=${at(0)}`);
      expect(first.headers.etag).toBe('"0"');
      expect(first.json()).toMatchObject({ version: 0, firstName: 'Ada', company: 'Engines' });
      if (events[1].recordedAt.getTime() > events[0].recordedAt.getTime()) {
        const stillFirst = await api.contact(editor, id, `?asOf=${at(1, -1)}`);
        expect(stillFirst).toMatchObject({ version: 0, firstName: 'Ada' });
      }
      const second = await api.contact(editor, id, `?asOf=${at(1)}`);
      expect(second).toMatchObject({
        version: 1,
        firstName: 'Augusta',
        company: null,
        updatedAt: events[1].recordedAt.toISOString(),
      });
      const now = await api.contact(
        editor,
        id,
        `?asOf=${encodeURIComponent('2999-01-01T00:00:00+01:00')}`,
      );
      expect(now).toEqual(await api.contact(editor, id));
      expect(now.version).toBe(2);

      for (const asOf of [
        'yesterday',
        '2025-02-30T00:00:00Z',
        '2025-01-01',
        '2025-01-01T25:00:00Z',
      ]) {
        const res = await api.get(editor, `/v1/contacts/${id}?asOf=${encodeURIComponent(asOf)}`);
        expectProblem(res, 400, 'VALIDATION_FAILED', ['asOf']);
      }
    });
  });

  describe('GET /v1/contacts', () => {
    /** Six contacts with distinct names, companies and tags, one archived; in creation order. */
    const seed = async () => {
      const org = await organisation();
      const people = [
        { firstName: 'Émile', lastName: 'Zola', company: 'Rougon SA', tags: ['author'] },
        { firstName: 'Ada', lastName: 'Lovelace', company: 'Analytical Engines', tags: ['vip'] },
        {
          firstName: 'Charles',
          lastName: 'Babbage',
          company: 'ANALYTICAL ENGINES',
          emails: [{ address: 'charles@engines.example' }],
          tags: ['vip', 'founder'],
        },
        { firstName: 'Grace', lastName: 'Hopper', company: 'Navy', tags: [] },
        { firstName: 'Alan', lastName: 'Turing', company: 'Bletchley', tags: ['vip'] },
        { firstName: 'Zed', lastName: 'Archived', company: 'Navy', tags: ['vip'] },
      ];
      const ids: Record<string, string> = {};
      for (const person of people)
        ids[person.firstName] = (await api.create(org.editor, person)).id;
      const res = await http().send('DELETE', `/v1/contacts/${ids.Zed}`, org.editor);
      expect(res.status).toBe(204);
      // Touch Ada last, so that updatedAt orders differently from createdAt.
      await api.update(org.editor, ids.Ada, 0, { notes: 'latest' });
      await settled();
      return { ...org, ids };
    };

    it('filters by q (name, email, company; any case, accents folded), tag, company and archived', async () => {
      const { editor } = await seed();
      expect(names(await list(editor))).toEqual(['Ada', 'Alan', 'Charles', 'Émile', 'Grace']);
      expect(names(await list(editor, '?q=ENGINES'))).toEqual(['Ada', 'Charles']);
      expect(names(await list(editor, '?q=charles%40eng'))).toEqual(['Charles']);
      expect(names(await list(editor, '?q=emile%20z'))).toEqual(['Émile']);
      expect(names(await list(editor, '?q=ada%20love'))).toEqual(['Ada']);
      expect(names(await list(editor, '?tag=vip'))).toEqual(['Ada', 'Alan', 'Charles']);
      expect(names(await list(editor, '?tag=VIP'))).toEqual([]);
      expect(names(await list(editor, '?company=analytical%20engines'))).toEqual([
        'Ada',
        'Charles',
      ]);
      expect(names(await list(editor, '?company=Analytical'))).toEqual([]);
      expect(names(await list(editor, '?archived=true'))).toEqual(['Zed']);
      expect(names(await list(editor, '?archived=false&tag=vip&q=a'))).toEqual([
        'Ada',
        'Alan',
        'Charles',
      ]);
      expect(names(await list(editor, '?archived=true&company=navy'))).toEqual(['Zed']);
      const page = await list(editor, '?q=lovelace');
      expect(page.nextCursor).toBeNull();
      expect(page.items[0]).toEqual(await api.contact(editor, page.items[0].id));
    });

    it('sorts by name, createdAt and updatedAt, either way', async () => {
      const { editor } = await seed();
      const sorted = async (sort: string) => names(await list(editor, `?sort=${sort}`));
      expect(await sorted('name')).toEqual(['Ada', 'Alan', 'Charles', 'Émile', 'Grace']);
      expect(await sorted('-name')).toEqual(['Grace', 'Émile', 'Charles', 'Alan', 'Ada']);
      expect(await sorted('createdAt')).toEqual(['Émile', 'Ada', 'Charles', 'Grace', 'Alan']);
      expect(await sorted('-createdAt')).toEqual(['Alan', 'Grace', 'Charles', 'Ada', 'Émile']);
      expect(await sorted('updatedAt')).toEqual(['Émile', 'Charles', 'Grace', 'Alan', 'Ada']);
      expect(await sorted('-updatedAt')).toEqual(['Ada', 'Alan', 'Grace', 'Charles', 'Émile']);
    });

    it('refuses limits outside 1–200, unknown sorts and parameters, and repeated ones (400)', async () => {
      const { editor } = await organisation();
      for (const query of [
        '?limit=0',
        '?limit=201',
        '?limit=-1',
        '?limit=1.5',
        '?limit=ten',
        '?sort=email',
        '?sort=name,createdAt',
        '?archived=yes',
        '?tag=a&tag=b',
        '?q=' + 'x'.repeat(201),
        '?orgId=' + randomUUID(),
      ]) {
        const res = await api.get(editor, `/v1/contacts${query}`);
        expect({ query, status: res.status }).toEqual({ query, status: 400 });
        expectProblem(res, 400, 'VALIDATION_FAILED');
      }
      expect((await list(editor, '?limit=1')).items).toEqual([]);
      expect((await list(editor, '?limit=200')).items).toEqual([]);
    });

    it('pages with cursors: every contact once, for each sort, with and without filters', async () => {
      const { editor } = await organisation();
      for (let i = 0; i < 23; i += 1) {
        await api.create(editor, {
          // Repeated names and companies: ties are broken by id.
          firstName: `Person ${i % 4}`,
          company: i % 2 === 0 ? 'Even' : 'Odd',
          tags: i % 3 === 0 ? ['third'] : [],
        });
      }
      await settled();
      for (const query of [
        'sort=name',
        'sort=-updatedAt',
        'sort=createdAt&company=even',
        'q=person%202&sort=-name',
      ]) {
        const whole = (await list(editor, `?${query}&limit=200`)).items.map((c) => c.id);
        expect(whole.length).toBeGreaterThan(4);
        const { ids, pages } = await allPages(editor, query, 4);
        expect({ query, ids }).toEqual({ query, ids: whole });
        expect(pages).toBe(Math.ceil(whole.length / 4));
      }
      const all = (await list(editor, '?limit=50')).items;
      expect(all).toHaveLength(23);
      expect(new Set(all.map((c) => c.id)).size).toBe(23);
    });

    it('refuses a cursor from another organisation or another query, and one it did not give', async () => {
      const mine = await organisation();
      const theirs = await organisation('Other Org');
      for (const caller of [mine.editor, theirs.editor]) {
        for (let i = 0; i < 3; i += 1)
          await api.create(caller, { firstName: `Name ${i}`, tags: ['t'] });
      }
      await settled();
      const { nextCursor } = await list(mine.editor, '?tag=t&limit=1');
      expect(nextCursor).toEqual(expect.any(String));
      const cursor = encodeURIComponent(nextCursor as string);
      expect((await list(mine.editor, `?tag=t&limit=2&cursor=${cursor}`)).items).toHaveLength(2);

      const refused = [
        [theirs.editor, `?tag=t&limit=1&cursor=${cursor}`],
        [mine.editor, `?tag=u&limit=1&cursor=${cursor}`],
        [mine.editor, `?limit=1&cursor=${cursor}`],
        [mine.editor, `?tag=t&sort=-name&limit=1&cursor=${cursor}`],
        [mine.editor, `?tag=t&archived=true&limit=1&cursor=${cursor}`],
        [mine.editor, `?tag=t&q=name&limit=1&cursor=${cursor}`],
      ] as const;
      for (const [caller, query] of refused) {
        const res = await api.get(caller, `/v1/contacts${query}`);
        expectProblem(res, 400, 'VALIDATION_FAILED', ['cursor']);
        expect((res.json() as { detail: string }).detail).toMatch(/another query/);
      }
      for (const bad of [
        'x',
        'not-a-cursor',
        Buffer.from('{"k":"a","i":"b","s":"c"}').toString('base64url'),
      ]) {
        const res = await api.get(mine.editor, `/v1/contacts?tag=t&cursor=${bad}`);
        expectProblem(res, 400, 'VALIDATION_FAILED', ['cursor']);
      }
    });

    it('takes %, _, quotes and SQL in q as plain text', async () => {
      const { organisationId, editor } = await organisation();
      await api.create(editor, { firstName: 'Percent', company: '100% Pure' });
      await api.create(editor, { firstName: 'Under', company: 'snake_case Ltd' });
      await api.create(editor, { firstName: 'Quote', lastName: "O'Brien" });
      await api.create(editor, { firstName: 'Plain', company: '1000 Pure' });
      await settled();
      const q = async (text: string) => names(await list(editor, `?q=${encodeURIComponent(text)}`));
      expect(await q('%')).toEqual(['Percent']);
      expect(await q('0% p')).toEqual(['Percent']);
      expect(await q('_')).toEqual(['Under']);
      expect(await q('e_c')).toEqual(['Under']);
      expect(await q("o'b")).toEqual(['Quote']);
      expect(await q("'")).toEqual(['Quote']);
      expect(await q("'; DROP TABLE contacts; --")).toEqual([]);
      expect(await q("' OR '1'='1")).toEqual([]);
      expect(await q('\\')).toEqual([]);
      expect(names(await list(editor))).toEqual(['Percent', 'Plain', 'Quote', 'Under']);
      const rows = await withOrganisation(t.db.app, organisationId, (c) =>
        c.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts'),
      );
      expect(rows.rows[0].n).toBe(4);
    });

    it('never lists another organisation’s contacts', async () => {
      const mine = await organisation();
      const theirs = await organisation('Other Org');
      const their = await api.create(theirs.editor, { firstName: 'Secret', tags: ['vip'] });
      await api.create(mine.editor, { firstName: 'Mine', tags: ['vip'] });
      await settled();
      for (const query of ['', '?q=secret', '?tag=vip', '?sort=-createdAt', '?archived=true']) {
        const ids = (await list(mine.editor, query)).items.map((c) => c.id);
        expect({ query, leaked: ids.includes(their.id) }).toEqual({ query, leaked: false });
      }
      expect(names(await list(theirs.editor))).toEqual(['Secret']);
    });
  });

  describe('GET /v1/contacts/{id}/history', () => {
    it('lists every change in log order with version, type, time, actor, request id and diffs', async () => {
      const { organisationId, editor, owner } = await organisation();
      const key = await http().issueKey(owner, 'editor');
      const created = await http().send('POST', '/v1/contacts', editor, {
        firstName: 'Ada',
        tags: ['vip'],
      });
      const { id } = created.json() as Written;
      const updated = await http().send(
        'PATCH',
        `/v1/contacts/${id}`,
        key,
        { firstName: 'Augusta', tags: [] },
        { 'if-match': '"0"' },
      );
      expect(updated.status).toBe(200);
      const { id: interactionId } = await api.logInteraction(editor, id, {
        type: 'call',
        occurredAt: '2025-03-14T09:30:00Z',
      });
      expect((await http().send('DELETE', `/v1/contacts/${id}`, owner)).status).toBe(204);

      const res = await api.get(editor, `/v1/contacts/${id}/history`);
      expect(res.status).toBe(200);
      const { items } = res.json() as { items: Record<string, unknown>[] };
      const events = await t.store.readStream(streamName('contact', organisationId, id));
      expect(items.map((i) => [i.version, i.type, i.at])).toEqual(
        events.map((e) => [Number(e.revision), e.type, e.recordedAt.toISOString()]),
      );
      expect(items[0]).toMatchObject({
        type: 'ContactCreated',
        actor: { id: editor.id, type: 'user' },
        requestId: created.headers['x-request-id'],
        changes: [
          { field: 'firstName', before: null, after: 'Ada' },
          { field: 'tags', before: [], after: ['vip'] },
        ],
      });
      expect(items[1]).toMatchObject({
        type: 'ContactUpdated',
        actor: { id: key.id, type: 'api_key' },
        requestId: updated.headers['x-request-id'],
        changes: [
          { field: 'firstName', before: 'Ada', after: 'Augusta' },
          { field: 'tags', before: ['vip'], after: [] },
        ],
      });
      expect(items[2]).toMatchObject({
        type: 'InteractionLogged',
        changes: expect.arrayContaining([
          { field: `interactions.${interactionId}.type`, before: null, after: 'call' },
        ]),
      });
      expect(items[3]).toMatchObject({
        type: 'ContactArchived',
        actor: { id: owner.id, type: 'user' },
        changes: [{ field: 'archived', before: false, after: true }],
      });
      expectProblem(
        await api.get(editor, `/v1/contacts/${randomUUID()}/history`),
        404,
        'NOT_FOUND',
      );
    });
  });

  describe('GET /v1/contacts/{id}/interactions', () => {
    it('lists them newest first in cursor pages, from the fold and from the read model alike', async () => {
      const { editor } = await organisation();
      const { id } = await api.create(editor, { firstName: 'Ada' });
      const times = ['2025-01-02T10:00:00Z', '2025-01-05T10:00:00Z', '2025-01-03T10:00:00Z'];
      const logged: string[] = [];
      for (const [i, occurredAt] of times.entries()) {
        logged.push(
          (await api.logInteraction(editor, id, { type: 'note', occurredAt, subject: `s${i}` })).id,
        );
      }
      // Two at the same moment: ties are broken by id, descending.
      for (let i = 0; i < 2; i += 1) {
        logged.push(
          (
            await api.logInteraction(editor, id, {
              type: 'task',
              occurredAt: times[0],
              dueAt: times[1],
            })
          ).id,
        );
      }
      const removed = logged[2];
      const res = await http().send('DELETE', `/v1/contacts/${id}/interactions/${removed}`, editor);
      expect(res.status).toBe(204);
      // Newest first; the three of 2 January (a note and two tasks) by id, descending.
      const expected = [logged[1], ...[logged[0], logged[3], logged[4]].sort().reverse()];

      const read = async () => {
        const first = await api.get(editor, `/v1/contacts/${id}/interactions?limit=3`);
        expect(first.status).toBe(200);
        const page1 = first.json() as Page<Interaction>;
        expect(page1.items).toHaveLength(3);
        const cursor = encodeURIComponent(page1.nextCursor as string);
        const page2 = (
          await api.get(editor, `/v1/contacts/${id}/interactions?limit=3&cursor=${cursor}`)
        ).json() as Page<Interaction>;
        expect(page2.nextCursor).toBeNull();
        return [...page1.items, ...page2.items];
      };
      const fromWhatever = await read();
      expect(fromWhatever.map((i) => i.id)).toEqual(expected);
      await settled();
      const fromReadModel = await read();
      expect(fromReadModel).toEqual(fromWhatever);
      expect(fromReadModel[0]).toEqual({
        id: logged[1],
        type: 'note',
        occurredAt: '2025-01-05T10:00:00.000Z',
        subject: 's1',
        body: null,
        direction: null,
        durationSeconds: null,
        dueAt: null,
        completed: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        createdBy: editor.id,
        updatedBy: editor.id,
      });
      expect(fromReadModel.find((i) => i.type === 'task')).toMatchObject({
        dueAt: '2025-01-05T10:00:00.000Z',
        completed: false,
      });
    });

    it('answers 404 for an unknown contact, 400 for bad limits and cursors of another contact', async () => {
      const { editor } = await organisation();
      const a = await api.create(editor, { firstName: 'A' });
      const b = await api.create(editor, { firstName: 'B' });
      for (const c of [a, b]) {
        for (let i = 0; i < 2; i += 1) await api.logInteraction(editor, c.id, { type: 'note' });
      }
      expectProblem(
        await api.get(editor, `/v1/contacts/${randomUUID()}/interactions`),
        404,
        'NOT_FOUND',
      );
      for (const limit of ['0', '201', 'x']) {
        const res = await api.get(editor, `/v1/contacts/${a.id}/interactions?limit=${limit}`);
        expectProblem(res, 400, 'VALIDATION_FAILED', ['limit']);
      }
      const { nextCursor } = (
        await api.get(editor, `/v1/contacts/${a.id}/interactions?limit=1`)
      ).json() as Page<Interaction>;
      const other = await api.get(
        editor,
        `/v1/contacts/${b.id}/interactions?limit=1&cursor=${encodeURIComponent(nextCursor as string)}`,
      );
      expectProblem(other, 400, 'VALIDATION_FAILED', ['cursor']);
      expect(
        (await api.get(editor, `/v1/contacts/${a.id}/interactions?limit=1&cursor=x`)).status,
      ).toBe(400);
    });
  });

  describe('who may read', () => {
    it('every role and an API key read contacts, lists, history and interactions', async () => {
      const { organisationId, owner, editor } = await organisation();
      const { id } = await api.create(editor, { firstName: 'Ada' });
      await api.logInteraction(editor, id, { type: 'note' });
      await settled();
      const readers = [
        owner,
        await http().addMember(owner, organisationId, 'admin'),
        editor,
        await http().addMember(owner, organisationId, 'viewer'),
        await http().addMember(owner, organisationId, 'auditor'),
        await http().issueKey(owner, 'viewer'),
        await http().issueKey(owner, 'auditor'),
      ];
      for (const [i, reader] of readers.entries()) {
        for (const path of [
          `/v1/contacts/${id}`,
          '/v1/contacts?q=ada',
          `/v1/contacts/${id}/history`,
          `/v1/contacts/${id}/interactions`,
        ]) {
          const res = await api.get(reader, path);
          expect({ reader: i, path, status: res.status }).toEqual({ reader: i, path, status: 200 });
        }
      }
      expect((await http().send('GET', `/v1/contacts/${id}`)).status).toBe(401);
    });
  });
});

describe('contacts read side with the contacts projection stopped', () => {
  // The app and a projector that keeps the access read model only: contacts never reach their
  // read model, so every answer below comes from the log.
  let db: TestDatabase;
  let served: TestApi;
  let store: PostgresEventStore;
  let stopProjector: () => Promise<void>;
  const api = contactsApi(() => served);

  beforeAll(async () => {
    db = await createTestDatabase();
    served = await startTestApi({ databaseUrl: db.appUrl });
    const access = PROJECTIONS.filter((p) => p.name !== CONTACTS_PROJECTION);
    stopProjector = startPostgresProjector(
      db.appUrl,
      access,
      () => undefined,
      testMasterKeyProvider(),
    ).stop;
    store = new PostgresEventStore(db.app);
  });
  afterAll(async () => {
    await served.close();
    await stopProjector();
    await store.close();
    await db.drop();
  });

  it('answers every acknowledged write from GET /v1/contacts/{id}, its history and interactions', async () => {
    const { organisationId, owner } = await createOrganisation(db);
    const editor = await api.http().signIn(owner, organisationId);
    const { id } = await api.create(editor, { firstName: 'Ada' });
    let version = 0;
    for (let i = 1; i <= 5; i += 1) {
      ({ version } = (await api.update(editor, id, version, { notes: `n${i}` })).json() as Written);
      expect(await api.contact(editor, id)).toMatchObject({ version, notes: `n${i}` });
    }
    const logged = await api.logInteraction(editor, id, { type: 'call', subject: 'Hi' });
    const res = await api.get(editor, `/v1/contacts/${id}`);
    expect([res.status, res.headers.etag]).toEqual([200, `"${logged.version}"`]);
    const interactions = (
      await api.get(editor, `/v1/contacts/${id}/interactions`)
    ).json() as Page<Interaction>;
    expect(interactions.items.map((i) => [i.id, i.subject])).toEqual([[logged.id, 'Hi']]);
    const history = (await api.get(editor, `/v1/contacts/${id}/history`)).json() as {
      items: unknown[];
    };
    expect(history.items).toHaveLength(logged.version + 1);

    // The list is the read model's: empty, as nothing has been projected.
    const rows = await withOrganisation(db.app, organisationId, (c) =>
      c.query('SELECT 1 FROM contacts'),
    );
    expect(rows.rowCount).toBe(0);
    expect(((await api.get(editor, '/v1/contacts')).json() as Page<Contact>).items).toEqual([]);
    expect((await store.readStream(streamName('contact', organisationId, id))).length).toBe(
      logged.version + 1,
    );
  });
});
