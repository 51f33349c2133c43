import { randomBytes, randomUUID } from 'node:crypto';
import { withOrganisation } from '../../../database/src/organisation-scope';
import { newEvent, newEvents, rejectionOf } from '../contract/test-events';
import { DataKeyTakenError, InvalidEventError, WrongExpectedVersionError } from '../errors';
import type { AppendResult, NewDataKey, StreamAppend } from '../event-store.port';
import { streamName } from '../stream-name';
import { usePostgresTestStore } from './testing/postgres-test-store';

jest.setTimeout(30_000);

/**
 * appendToStreamsWithDataKeys (migration DataKeysWithAppends): a subject's first data key stored
 * in the transaction of the append that first encrypts under it, all or nothing. The keys here are
 * random bytes: what they wrap is the keyring's business (encrypting-event-store and event-log
 * specs); the adapter stores rows and refuses clashes.
 */
describe('PostgreSQL: first data keys stored with appends', () => {
  const t = usePostgresTestStore({ pollIntervalMs: 100, groupCommit: { maxGroups: 1 } });

  function newContact(organisationId: string): { id: string; stream: string; key: NewDataKey } {
    const id = randomUUID();
    return {
      id,
      stream: streamName('contact', organisationId, id),
      key: {
        organisationId,
        subjectId: id,
        organisationKeyVersion: 1,
        wrappedKey: randomBytes(60),
      },
    };
  }

  async function keyRows(
    organisationId: string,
  ): Promise<{ subject_id: string; version: number; wrapped_key: Buffer | null }[]> {
    return withOrganisation(t.db.app, organisationId, async (client) => {
      const { rows } = await client.query<{
        subject_id: string;
        version: number;
        wrapped_key: Buffer | null;
      }>(
        `SELECT subject_id, version, wrapped_key FROM data_keys WHERE org_id = $1
          ORDER BY subject_id, version`,
        [organisationId],
      );
      return rows;
    });
  }

  async function eventCount(organisationId: string): Promise<number> {
    const { rows } = await t.db.app.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM events WHERE org_id = $1',
      [organisationId],
    );
    return Number(rows[0].n);
  }

  const create = (organisationId: string, stream: string, events = 1): StreamAppend => ({
    stream,
    events: newEvents(organisationId, events),
    expectedRevision: 'no_stream',
  });

  it('stores a create’s key with its event, in one statement, and leaves no scope behind', async () => {
    const org = randomUUID();
    const contact = newContact(org);
    const [result] = await t.store.appendToStreamsWithDataKeys(
      [create(org, contact.stream)],
      [contact.key],
    );
    expect(result.nextExpectedRevision).toBe(0n);
    expect(await eventCount(org)).toBe(1);
    const rows = await keyRows(org);
    expect(rows).toEqual([
      { subject_id: contact.id, version: 1, wrapped_key: Buffer.from(contact.key.wrappedKey) },
    ]);
    // The function scoped its own statements: the pooled connection comes back unscoped.
    const { rows: scope } = await t.db.app.query<{ org: string | null }>(
      `SELECT current_setting('app.org_id', true) AS org`,
    );
    expect(scope[0].org ?? '').toBe('');
  });

  it('stores keys with a batch and with several streams of several organisations', async () => {
    const [orgA, orgB] = [randomUUID(), randomUUID()];
    const a = newContact(orgA);
    const b = newContact(orgB);
    const c = newContact(orgB);
    const [batch] = await t.store.appendToStreamsWithDataKeys([create(orgA, a.stream, 3)], [a.key]);
    expect(batch.nextExpectedRevision).toBe(2n);
    const results = await t.store.appendToStreamsWithDataKeys(
      [create(orgB, b.stream), create(orgB, c.stream, 2)],
      [b.key, c.key],
    );
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n]);
    expect((await keyRows(orgA)).map((r) => r.subject_id)).toEqual([a.id]);
    expect((await keyRows(orgB)).map((r) => r.subject_id).sort()).toEqual([b.id, c.id].sort());
  });

  it('writes nothing, and says DataKeyTaken, when the subject already has another key', async () => {
    const org = randomUUID();
    const earlier = newContact(org);
    await t.store.appendToStreamsWithDataKeys([create(org, earlier.stream)], [earlier.key]);
    // The same subject, a new stream of its own (as a second process racing the first would).
    const clash = { ...earlier.key, wrappedKey: randomBytes(60) };
    const stream = streamName('contact', org, randomUUID());
    for (const events of [1, 2]) {
      const error = await rejectionOf(
        t.store.appendToStreamsWithDataKeys([create(org, stream, events)], [clash]),
      );
      expect(error).toBeInstanceOf(DataKeyTakenError);
      expect(error).toMatchObject({ organisationId: org, subjectId: earlier.id });
    }
    expect(await eventCount(org)).toBe(1);
    expect(await keyRows(org)).toHaveLength(1);
  });

  it('refuses a key for an erased subject (its tombstone), writing nothing', async () => {
    const org = randomUUID();
    const contact = newContact(org);
    await withOrganisation(t.db.app, org, (client) =>
      client.query(
        `INSERT INTO data_keys (org_id, subject_id, version, destroyed_at) VALUES ($1, $2, 1, now())`,
        [org, contact.id],
      ),
    );
    const error = await rejectionOf(
      t.store.appendToStreamsWithDataKeys([create(org, contact.stream)], [contact.key]),
    );
    expect(error).toBeInstanceOf(DataKeyTakenError);
    expect(await eventCount(org)).toBe(0);
    expect(await keyRows(org)).toEqual([{ subject_id: contact.id, version: 1, wrapped_key: null }]);
  });

  it('answers an exact retry (same events, same key) as before and writes nothing', async () => {
    const org = randomUUID();
    const contact = newContact(org);
    const append = create(org, contact.stream);
    const [first] = await t.store.appendToStreamsWithDataKeys([append], [contact.key]);
    const [again] = await t.store.appendToStreamsWithDataKeys([append], [contact.key]);
    expect(again).toEqual(first);
    expect(await eventCount(org)).toBe(1);
    expect(await keyRows(org)).toHaveLength(1);
  });

  it('stores no key when the append itself is refused', async () => {
    const org = randomUUID();
    const taken = newContact(org);
    await t.store.appendToStream(taken.stream, [newEvent(org)], { expectedRevision: 'no_stream' });
    const fresh = newContact(org);
    for (const appends of [
      [create(org, taken.stream)],
      [create(org, fresh.stream), create(org, taken.stream)],
    ]) {
      const error = await rejectionOf(t.store.appendToStreamsWithDataKeys(appends, [fresh.key]));
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
    }
    expect(await keyRows(org)).toEqual([]);
    expect(await eventCount(org)).toBe(1);
  });

  it('refuses a key of an organisation none of the streams belongs to, or two for one subject', async () => {
    const [org, other] = [randomUUID(), randomUUID()];
    const contact = newContact(org);
    const foreign = { ...contact.key, organisationId: other };
    await expect(
      t.store.appendToStreamsWithDataKeys([create(org, contact.stream)], [foreign]),
    ).rejects.toBeInstanceOf(InvalidEventError);
    await expect(
      t.store.appendToStreamsWithDataKeys(
        [create(org, contact.stream)],
        [contact.key, { ...contact.key, wrappedKey: randomBytes(60) }],
      ),
    ).rejects.toBeInstanceOf(InvalidEventError);
    // The functions refuse it too, whoever calls them.
    const sql = `SELECT append_event_with_key($1, $2, 'no_stream', NULL, $3, 'ContactCreated', 1::smallint,
                        '\\x7b7d'::bytea, $4, 'actor', NULL, $5, 1, '\\x01'::bytea)`;
    const event = newEvent(org);
    const metadata = Buffer.from(JSON.stringify(event.metadata));
    await expect(
      t.db.app.query(
        `SELECT append_to_streams_with_keys(ARRAY[$1], ARRAY[$2::uuid], ARRAY['no_stream'],
                        ARRAY[NULL::bigint], ARRAY[1], ARRAY[$3::uuid], ARRAY['ContactCreated'],
                        ARRAY[1::smallint], ARRAY['\\x7b7d'::bytea], ARRAY[$4::bytea],
                        ARRAY['actor'], ARRAY[NULL::text], ARRAY[$5::uuid], ARRAY[$6], ARRAY[1],
                        ARRAY['\\x01'::bytea])`,
        [contact.stream, org, event.eventId, metadata, other, contact.id],
      ),
    ).rejects.toMatchObject({ code: 'YB003' });
    // Inside an organisation's scope (a caller's transaction), neither runs.
    await expect(
      withOrganisation(t.db.app, org, (client) =>
        client.query(sql, [contact.stream, org, event.eventId, metadata, contact.id]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    expect(await eventCount(org)).toBe(0);
    expect(await keyRows(org)).toEqual([]);
    expect(await keyRows(other)).toEqual([]);
  });

  it('groups creates with keys, failing only the member whose key is taken', async () => {
    const org = randomUUID();
    const earlier = newContact(org);
    await t.store.appendToStreamsWithDataKeys([create(org, earlier.stream)], [earlier.key]);
    const contacts = Array.from({ length: 6 }, () => newContact(org));
    const clash = {
      stream: streamName('contact', org, randomUUID()),
      key: { ...earlier.key, wrappedKey: randomBytes(60) },
    };
    const before = { ...t.store.groupCommitStats! };
    // Asked for while one is in flight, they queue and go out together.
    const first = t.store.appendToStream(
      streamName('contact', org, randomUUID()),
      [newEvent(org)],
      {
        expectedRevision: 'no_stream',
      },
    );
    const outcomes = await Promise.allSettled<AppendResult[]>([
      ...contacts
        .slice(0, 3)
        .map((c) => t.store.appendToStreamsWithDataKeys([create(org, c.stream)], [c.key])),
      t.store.appendToStreamsWithDataKeys([create(org, clash.stream)], [clash.key]),
      ...contacts
        .slice(3)
        .map((c) => t.store.appendToStreamsWithDataKeys([create(org, c.stream)], [c.key])),
    ]);
    await first;
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toBeInstanceOf(DataKeyTakenError);
    expect(outcomes[3].status).toBe('rejected');
    const stats = t.store.groupCommitStats!;
    expect(stats.groups).toBeGreaterThan(before.groups);
    expect(stats.resends).toBeGreaterThan(before.resends);
    // Every other create is there with its key; the refused one left nothing.
    expect((await keyRows(org)).map((r) => r.subject_id).sort()).toEqual(
      [earlier.id, ...contacts.map((c) => c.id)].sort(),
    );
    expect(await eventCount(org)).toBe(2 + contacts.length);
  });
});
