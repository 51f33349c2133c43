import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { newContactStream, newEvent, newEvents, rejectionOf } from '../contract/test-events';
import { encodeMetadata } from '../append-validation';
import {
  AppendInWriteTransactionError,
  OrganisationMismatchError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../errors';
import { GENESIS_HASH } from '../hash-chain';
import { usePostgresTestStore } from './testing/postgres-test-store';
import { verifyEventLog } from './verify-event-log';

/** What the application role may and may not do to the log, and what the database itself refuses. */
describe('PostgreSQL event log guards', () => {
  const t = usePostgresTestStore();

  async function withAppClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await t.db.app.connect();
    try {
      return await work(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  async function countRows(table: 'events' | 'streams', organisationId: string): Promise<number> {
    const { rows } = await t.db.owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE org_id = $1`,
      [organisationId],
    );
    return rows[0].n;
  }

  async function seededStream(): Promise<{ organisationId: string; stream: string }> {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    await t.store.appendToStream(stream, newEvents(organisationId, 2), {
      expectedRevision: 'no_stream',
    });
    return { organisationId, stream };
  }

  describe('the application role', () => {
    it('cannot UPDATE events', async () => {
      const { stream } = await seededStream();
      await expect(
        t.db.app.query(`UPDATE events SET data = '\\x00' WHERE stream_id = $1`, [stream]),
      ).rejects.toThrow(/permission denied for table events/);
    });

    it('cannot DELETE events', async () => {
      const { stream } = await seededStream();
      await expect(
        t.db.app.query('DELETE FROM events WHERE stream_id = $1', [stream]),
      ).rejects.toThrow(/permission denied for table events/);
    });

    it('cannot TRUNCATE events', async () => {
      await seededStream();
      await expect(t.db.app.query('TRUNCATE events')).rejects.toThrow(
        /permission denied for table events/,
      );
    });

    it('cannot change the stream heads', async () => {
      const { stream } = await seededStream();
      await expect(
        t.db.app.query('UPDATE streams SET last_revision = 0 WHERE stream_id = $1', [stream]),
      ).rejects.toThrow(/permission denied for table streams/);
      await expect(t.db.app.query('DELETE FROM streams')).rejects.toThrow(/permission denied/);
    });

    it('holds exactly INSERT and SELECT on events, SELECT on streams', async () => {
      const { rows } = await t.db.owner.query<{ table_name: string; privilege_type: string }>(
        `SELECT table_name, privilege_type FROM information_schema.role_table_grants
          WHERE grantee = 'beecastle_app' AND table_name IN ('events', 'streams')
          ORDER BY table_name, privilege_type`,
      );
      expect(rows.map((r) => `${r.table_name}:${r.privilege_type}`)).toEqual([
        'events:INSERT',
        'events:SELECT',
        'streams:SELECT',
      ]);
      const { rows: columnGrants } = await t.db.owner.query(
        `SELECT 1 FROM information_schema.column_privileges
          WHERE grantee IN ('beecastle_app', 'beecastle_app_login') AND table_name = 'events'
            AND privilege_type NOT IN ('INSERT', 'SELECT')`,
      );
      expect(columnGrants).toEqual([]);
    });

    it('owns no table, sequence, function or schema', async () => {
      const { rows } = await t.db.owner.query<{ kind: string; name: string }>(
        `SELECT 'relation' AS kind, relname::text AS name FROM pg_class
          WHERE relowner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'beecastle_app%')
         UNION ALL
         SELECT 'function', proname::text FROM pg_proc
          WHERE proowner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'beecastle_app%')
         UNION ALL
         SELECT 'schema', nspname::text FROM pg_namespace
          WHERE nspowner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'beecastle_app%')`,
      );
      expect(rows).toEqual([]);
      const { rows: owners } = await t.db.owner.query<{ owner: string }>(
        `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class
          WHERE relname IN ('events', 'streams', 'events_global_seq_seq')`,
      );
      expect(owners).toEqual([{ owner: 'beecastle_owner' }]);
    });

    it('can INSERT a well-formed row directly and SELECT it back', async () => {
      const organisationId = randomUUID();
      const stream = newContactStream(organisationId);
      const event = newEvent(organisationId);
      await t.db.app.query(
        `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data,
                             metadata, actor_id, recorded_at, prev_hash, hash)
         VALUES ($1, $2, 0, $3, $4, 1, $5, $6, 'user-1', now(), $7, $7)`,
        [
          organisationId,
          stream,
          event.eventId,
          event.type,
          event.data,
          encodeMetadata(event),
          GENESIS_HASH,
        ],
      );
      const { rows } = await t.db.app.query('SELECT event_id FROM events WHERE stream_id = $1', [
        stream,
      ]);
      expect(rows).toEqual([{ event_id: event.eventId }]);
      expect(await countRows('streams', organisationId)).toBe(1);
    });
  });

  describe('appends', () => {
    it('are refused after another write in the same transaction', async () => {
      const organisationId = randomUUID();
      const stream = newContactStream(organisationId);
      await withAppClient(async (client) => {
        await client.query('BEGIN');
        await client.query('CREATE TEMPORARY TABLE scratch (n int) ON COMMIT DROP');
        await client.query('INSERT INTO scratch VALUES (1)');

        const error = await rejectionOf(
          t.store.withClient(client).appendToStream(stream, newEvents(organisationId, 1), {
            expectedRevision: 'any',
          }),
        );

        expect(error).toBeInstanceOf(AppendInWriteTransactionError);
        expect((error as AppendInWriteTransactionError).code).toBe('APPEND_IN_WRITE_TRANSACTION');
      });
      expect(await countRows('events', organisationId)).toBe(0);
    });

    it('are refused as the second append of one transaction', async () => {
      const organisationId = randomUUID();
      await withAppClient(async (client) => {
        await client.query('BEGIN');
        const bound = t.store.withClient(client);
        await bound.appendToStream(newContactStream(organisationId), newEvents(organisationId, 1), {
          expectedRevision: 'no_stream',
        });
        await expect(
          bound.appendToStream(newContactStream(organisationId), newEvents(organisationId, 1), {
            expectedRevision: 'no_stream',
          }),
        ).rejects.toBeInstanceOf(AppendInWriteTransactionError);
      });
      expect(await countRows('events', organisationId)).toBe(0);
    });

    it('join the caller’s transaction: a rollback leaves nothing', async () => {
      const organisationId = randomUUID();
      const stream = newContactStream(organisationId);
      await withAppClient(async (client) => {
        await client.query('BEGIN');
        const bound = t.store.withClient(client);
        await bound.appendToStream(stream, newEvents(organisationId, 2), {
          expectedRevision: 'no_stream',
        });
        expect(await bound.readStream(stream)).toHaveLength(2);
        await client.query('ROLLBACK');
      });
      await expect(t.store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
      expect(await countRows('streams', organisationId)).toBe(0);
    });

    it('refuse an organisation mismatch between stream name and metadata and write nothing', async () => {
      const organisationId = randomUUID();
      const other = randomUUID();
      const stream = newContactStream(organisationId);

      const error = await rejectionOf(
        t.store.appendToStream(stream, [newEvent(organisationId), newEvent(other)], {
          expectedRevision: 'any',
        }),
      );

      expect(error).toBeInstanceOf(OrganisationMismatchError);
      expect(await countRows('events', organisationId)).toBe(0);
      expect(await countRows('events', other)).toBe(0);
    });

    it('are checked for the organisation by the database too', async () => {
      const organisationId = randomUUID();
      const other = randomUUID();
      const stream = newContactStream(organisationId);
      const event = newEvent(other);
      // Straight to the function, past the adapter's own validation.
      const call = (org: string) =>
        t.db.app.query(
          `SELECT * FROM append_to_stream($1, $2, 'any', NULL, $3, $4, $5, $6, $7, $8, $9)`,
          [
            stream,
            org,
            [event.eventId],
            [event.type],
            [1],
            [event.data],
            [encodeMetadata(event)],
            ['user-1'],
            [null],
          ],
        );
      await expect(call(other)).rejects.toMatchObject({ code: 'YB003' });
      await expect(call(organisationId)).rejects.toMatchObject({ code: 'YB003' });
      // The one-event function checks the same.
      const callOne = (org: string) =>
        t.db.app.query(
          `SELECT append_event($1, $2, 'any', NULL, $3, $4, 1::smallint, $5, $6, 'user-1', NULL)`,
          [stream, org, event.eventId, event.type, event.data, encodeMetadata(event)],
        );
      await expect(callOne(other)).rejects.toMatchObject({ code: 'YB003' });
      await expect(callOne(organisationId)).rejects.toMatchObject({ code: 'YB003' });
      await expect(
        t.db.app.query(
          `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data,
                               metadata, actor_id, recorded_at, prev_hash, hash)
           VALUES ($1, $2, 0, $3, 'ContactNoted', 1, '\\x', '\\x', 'user-1', now(), '\\x', '\\x')`,
          [other, stream, randomUUID()],
        ),
      ).rejects.toMatchObject({ code: 'YB003' });
      expect(await countRows('events', organisationId)).toBe(0);
      expect(await countRows('events', other)).toBe(0);
    });

    it('cannot leave a gap in a stream, even as direct inserts', async () => {
      const { organisationId, stream } = await seededStream();
      await expect(
        t.db.app.query(
          `INSERT INTO events (org_id, stream_id, revision, event_id, type, schema_version, data,
                               metadata, actor_id, recorded_at, prev_hash, hash)
           VALUES ($1, $2, 5, $3, 'ContactNoted', 1, '\\x', '\\x', 'user-1', now(), '\\x', '\\x')`,
          [organisationId, stream, randomUUID()],
        ),
      ).rejects.toMatchObject({ code: 'YB004' });
      expect(await countRows('events', organisationId)).toBe(2);
    });

    it('turn a unique violation on (stream, revision) into WrongExpectedVersionError', async () => {
      const { organisationId, stream } = await seededStream();
      await withAppClient(async (client) => {
        // A REPEATABLE READ snapshot taken now still shows revision 1 as the head after another
        // append moves it, so the function's insert runs into the unique index.
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await client.query('SELECT count(*) FROM events');
        await t.store.appendToStream(stream, newEvents(organisationId, 1), {
          expectedRevision: 1n,
        });

        const error = await rejectionOf(
          t.store.withClient(client).appendToStream(stream, newEvents(organisationId, 1), {
            expectedRevision: 'any',
          }),
        );

        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ stream, expected: 'any', actual: 2n });
      });
      expect(await countRows('events', organisationId)).toBe(3);
    });
  });

  describe('the stream heads', () => {
    // The append functions keep the head themselves and the trigger skips their rows, except in
    // the owner's own session, where the trigger keeps it and the functions leave it alone.
    it('follow appends made through the functions by the application and by the owner', async () => {
      const { organisationId, stream } = await seededStream();
      const [event] = newEvents(organisationId, 1);
      await t.db.owner.query(
        `SELECT append_event($1, $2, 'exact', 1, $3, $4, 1::smallint, $5, $6, 'user-1', NULL)`,
        [stream, organisationId, event.eventId, event.type, event.data, encodeMetadata(event)],
      );
      await t.store.appendToStream(stream, newEvents(organisationId, 2), { expectedRevision: 2n });

      const { rows } = await t.db.owner.query<{ last_revision: string }>(
        'SELECT last_revision FROM streams WHERE stream_id = $1',
        [stream],
      );
      expect(rows).toEqual([{ last_revision: '4' }]);
      expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({ ok: true });
    });
  });

  describe('the log', () => {
    it('refuses UPDATE, DELETE and TRUNCATE even from its owner while the guard is on', async () => {
      const { stream } = await seededStream();
      await expect(
        t.db.owner.query(`UPDATE events SET type = 'Forged' WHERE stream_id = $1`, [stream]),
      ).rejects.toMatchObject({ code: 'YB005' });
      await expect(
        t.db.owner.query('DELETE FROM events WHERE stream_id = $1', [stream]),
      ).rejects.toMatchObject({ code: 'YB005' });
      await expect(t.db.owner.query('TRUNCATE events')).rejects.toMatchObject({ code: 'YB005' });
    });
  });
});
