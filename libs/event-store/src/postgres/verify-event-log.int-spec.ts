import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../../database/src/testing/test-database';
import { jsonBytes, newContactStream, newEvents } from '../contract/test-events';
import type { RecordedEvent } from '../event-store.port';
import { PostgresEventStore } from './postgres-event-store';
import { usePostgresTestStore } from './testing/postgres-test-store';
import { verifyEventLog } from './verify-event-log';

describe('verifyEventLog', () => {
  const t = usePostgresTestStore();

  /** An organisation with three streams of five events, written in batches. */
  async function seedOrganisation(): Promise<{ organisationId: string; middle: RecordedEvent[] }> {
    const organisationId = randomUUID();
    const streams = [1, 2, 3].map(() => newContactStream(organisationId));
    for (const stream of streams) {
      await t.store.appendToStream(stream, newEvents(organisationId, 2), {
        expectedRevision: 'no_stream',
      });
      await t.store.appendToStream(stream, newEvents(organisationId, 3), { expectedRevision: 1n });
    }
    const middle = [...streams].sort()[1];
    return { organisationId, middle: await t.store.readStream(middle) };
  }

  // The owner can do anything; the append-only trigger is the one thing in its way.
  async function tamper(...statements: [string, unknown[]][]): Promise<void> {
    const client = await t.db.owner.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE events DISABLE TRIGGER events_append_only');
      for (const [sql, values] of statements) await client.query(sql, values);
      await client.query('ALTER TABLE events ENABLE TRIGGER events_append_only');
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  it('passes an untampered log, counting every event and stream', async () => {
    const { organisationId } = await seedOrganisation();
    await seedOrganisation();

    expect(await verifyEventLog(t.db.app, { organisationId })).toEqual({
      ok: true,
      eventsChecked: 15,
      streamsChecked: 3,
    });
  });

  it('passes a whole untampered log', async () => {
    // A database of its own: the other tests here tamper with theirs.
    const fresh = await createTestDatabase();
    const freshStore = new PostgresEventStore(fresh.app);
    try {
      for (const organisationId of [randomUUID(), randomUUID()]) {
        for (let i = 0; i < 4; i += 1) {
          await freshStore.appendToStream(
            newContactStream(organisationId),
            newEvents(organisationId, 1 + i),
            { expectedRevision: 'no_stream' },
          );
        }
      }
      expect(await verifyEventLog(fresh.app)).toEqual({
        ok: true,
        eventsChecked: 20,
        streamsChecked: 8,
      });
    } finally {
      await freshStore.close();
      await fresh.drop();
    }
  });

  it('reads in small batches with the same result', async () => {
    const { organisationId } = await seedOrganisation();
    expect(await verifyEventLog(t.db.app, { organisationId, batchSize: 2 })).toEqual({
      ok: true,
      eventsChecked: 15,
      streamsChecked: 3,
    });
  });

  it('names the event whose data was edited', async () => {
    const { organisationId, middle } = await seedOrganisation();
    const target = middle[2];
    await tamper([
      'UPDATE events SET data = $1 WHERE event_id = $2',
      [jsonBytes({ note: 'rewritten' }), target.eventId],
    ]);

    const result = await verifyEventLog(t.db.app, { organisationId });

    expect(result.ok).toBe(false);
    expect(result.firstBrokenEvent).toEqual({
      streamId: target.streamId,
      revision: 2n,
      eventId: target.eventId,
      reason: 'hash_mismatch',
    });
  });

  it('names the event after a deleted one', async () => {
    const { organisationId, middle } = await seedOrganisation();
    await tamper(['DELETE FROM events WHERE event_id = $1', [middle[2].eventId]]);

    const result = await verifyEventLog(t.db.app, { organisationId });

    expect(result.ok).toBe(false);
    expect(result.firstBrokenEvent).toEqual({
      streamId: middle[3].streamId,
      revision: 3n,
      eventId: middle[3].eventId,
      reason: 'revision_gap',
    });
  });

  it('names the first of two events whose revisions were swapped', async () => {
    const { organisationId, middle } = await seedOrganisation();
    const [one, two] = [middle[1], middle[2]];
    // The unique index is checked row by row, so the swap goes through a free revision.
    await tamper(
      ['UPDATE events SET revision = 1000 WHERE event_id = $1', [one.eventId]],
      ['UPDATE events SET revision = 1 WHERE event_id = $1', [two.eventId]],
      ['UPDATE events SET revision = 2 WHERE event_id = $1', [one.eventId]],
    );
    const read = await t.store.readStream(one.streamId);
    expect(read.map((e) => e.eventId).slice(1, 3)).toEqual([two.eventId, one.eventId]);

    const result = await verifyEventLog(t.db.app, { organisationId });

    expect(result.ok).toBe(false);
    expect(result.firstBrokenEvent).toEqual({
      streamId: one.streamId,
      revision: 1n,
      eventId: two.eventId,
      reason: 'prev_hash_mismatch',
    });
  });

  it('notices a deleted tail through the recorded stream head', async () => {
    const { organisationId, middle } = await seedOrganisation();
    await tamper(['DELETE FROM events WHERE event_id = $1', [middle[4].eventId]]);

    const result = await verifyEventLog(t.db.app, { organisationId });

    expect(result.ok).toBe(false);
    expect(result.firstBrokenEvent).toEqual({
      streamId: middle[4].streamId,
      revision: 4n,
      eventId: null,
      reason: 'head_mismatch',
    });
  });

  it('notices a stream whose events were all deleted', async () => {
    const { organisationId, middle } = await seedOrganisation();
    await tamper(['DELETE FROM events WHERE stream_id = $1', [middle[0].streamId]]);

    const result = await verifyEventLog(t.db.app, { organisationId });

    expect(result.firstBrokenEvent).toEqual({
      streamId: middle[0].streamId,
      revision: 0n,
      eventId: null,
      reason: 'head_mismatch',
    });
  });
});
