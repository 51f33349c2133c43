import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { newContactStream, newEvent, newEvents, rejectionOf } from '../contract/test-events';
import { AppendInWriteTransactionError, StreamNotFoundError } from '../errors';
import type { StreamAppend } from '../event-store.port';
import { PostgresEventStore } from './postgres-event-store';
import { usePostgresTestStore } from './testing/postgres-test-store';
import { verifyEventLog } from './verify-event-log';

// Real PostgreSQL on a possibly loaded machine: waits are for conditions, with generous deadlines.
jest.setTimeout(30_000);

/**
 * `append_to_streams` beyond the contract: its locks, its chain as `verify` recomputes it, the
 * heads it keeps, the caller's transaction, and the wake-ups it sends.
 */
describe('PostgreSQL multi-stream appends', () => {
  const t = usePostgresTestStore({ pollIntervalMs: 100 });

  async function inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await t.db.app.connect();
    try {
      await client.query('BEGIN');
      return await work(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  const one = (stream: string, organisationId: string, count = 1): StreamAppend => ({
    stream,
    events: newEvents(organisationId, count),
    expectedRevision: 'any',
  });

  async function heads(organisationId: string): Promise<Map<string, string>> {
    const { rows } = await t.db.owner.query<{ stream_id: string; last: string }>(
      `SELECT s.stream_id, s.last_revision || ':' || encode(s.last_hash, 'hex') AS last
         FROM streams AS s WHERE s.org_id = $1`,
      [organisationId],
    );
    return new Map(rows.map((r) => [r.stream_id, r.last]));
  }

  it('chains streams that verify recomputes, mixed with single-stream appends', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const streamsOfA = [1, 2, 3].map(() => newContactStream(a));
    const streamOfB = newContactStream(b);
    await t.store.appendToStream(streamsOfA[0], newEvents(a, 2), { expectedRevision: 'no_stream' });
    await t.store.appendToStreams([
      { stream: streamsOfA[0], events: newEvents(a, 3), expectedRevision: 1n },
      { stream: streamsOfA[1], events: newEvents(a, 1), expectedRevision: 'no_stream' },
      { stream: streamOfB, events: newEvents(b, 2), expectedRevision: 'no_stream' },
    ]);
    await t.store.appendToStream(streamsOfA[1], [newEvent(a)], { expectedRevision: 0n });
    await t.store.appendToStreams([
      one(streamsOfA[1], a, 2),
      one(streamsOfA[2], a),
      one(streamOfB, b),
    ]);

    expect(await verifyEventLog(t.db.app, { organisationId: a })).toEqual({
      ok: true,
      eventsChecked: 10,
      streamsChecked: 3,
    });
    expect(await verifyEventLog(t.db.app, { organisationId: b })).toEqual({
      ok: true,
      eventsChecked: 3,
      streamsChecked: 1,
    });
    // The heads the function kept are the last events' revisions and hashes.
    const kept = await heads(a);
    for (const stream of streamsOfA) {
      const last = (await t.store.readStream(stream, { direction: 'backwards', maxCount: 1 }))[0];
      expect(kept.get(stream)).toBe(`${last.revision}:${last.hash}`);
    }
  });

  it('verify names an edited event that a multi-stream append wrote', async () => {
    const organisationId = randomUUID();
    const streams = [1, 2].map(() => newContactStream(organisationId));
    await t.store.appendToStreams(streams.map((s) => one(s, organisationId, 2)));
    const [, edited] = await t.store.readStream(streams[1]);
    const client = await t.db.owner.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE events DISABLE TRIGGER events_append_only');
      await client.query(`UPDATE events SET data = '\\x7b7d' WHERE event_id = $1`, [
        edited.eventId,
      ]);
      await client.query('ALTER TABLE events ENABLE TRIGGER events_append_only');
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({
      ok: false,
      firstBrokenEvent: {
        streamId: streams[1],
        revision: 1n,
        eventId: edited.eventId,
        reason: 'hash_mismatch',
      },
    });
  });

  it('keeps the heads through the trigger when the owner appends, and verify passes', async () => {
    const organisationId = randomUUID();
    const owner = new PostgresEventStore(t.db.owner);
    try {
      const [existing, fresh] = [1, 2].map(() => newContactStream(organisationId));
      await t.store.appendToStream(existing, newEvents(organisationId, 2), {
        expectedRevision: 'no_stream',
      });
      await owner.appendToStreams([
        { stream: existing, events: newEvents(organisationId, 2), expectedRevision: 1n },
        { stream: fresh, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
      ]);
      await t.store.appendToStreams([one(existing, organisationId), one(fresh, organisationId)]);
    } finally {
      await owner.close();
    }

    const kept = [...(await heads(organisationId)).values()].map((h) => h.split(':')[0]);
    expect(kept.sort()).toEqual(['1', '4']);
    expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({
      ok: true,
      eventsChecked: 7,
    });
  });

  it('takes every lock before it waits: crossing appends queue behind a held stream, then both commit', async () => {
    // T0 holds `gate` open. Each multi-append names `gate` between the other two streams, in
    // opposite orders; taking locks in the order given, each would hold its first stream while
    // waiting for the gate, then wait for the other's first stream: a deadlock once T0 commits.
    const organisationId = randomUUID();
    const [left, gate, right] = [1, 2, 3].map(() => newContactStream(organisationId));
    const crossing = await inTransaction(async (t0) => {
      await t.store.withClient(t0).appendToStream(gate, newEvents(organisationId, 1), {
        expectedRevision: 'no_stream',
      });
      const both = Promise.all([
        t.store.appendToStreams([
          one(left, organisationId),
          one(gate, organisationId),
          one(right, organisationId),
        ]),
        t.store.appendToStreams([
          one(right, organisationId),
          one(gate, organisationId),
          one(left, organisationId),
        ]),
      ]);
      // Long enough for both to reach their locks.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await t0.query('COMMIT');
      return both;
    });

    expect(crossing).toHaveLength(2);
    for (const stream of [left, gate, right]) {
      expect((await t.store.readStream(stream)).map((e) => e.revision)).toEqual(
        stream === gate ? [0n, 1n, 2n] : [0n, 1n],
      );
    }
  });

  it('joins the caller’s transaction: a rollback leaves nothing, heads included', async () => {
    const organisationId = randomUUID();
    const streams = [1, 2].map(() => newContactStream(organisationId));
    await inTransaction(async (client) => {
      const bound = t.store.withClient(client);
      await bound.appendToStreams(streams.map((s) => one(s, organisationId)));
      expect(await bound.readStream(streams[1])).toHaveLength(1);
    });

    for (const stream of streams) {
      await expect(t.store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
    }
    expect(await heads(organisationId)).toEqual(new Map());
  });

  it('is refused after another write in the same transaction', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    await inTransaction(async (client) => {
      const bound = t.store.withClient(client);
      await bound.appendToStream(newContactStream(organisationId), newEvents(organisationId, 1), {
        expectedRevision: 'no_stream',
      });
      const error = await rejectionOf(bound.appendToStreams([one(stream, organisationId)]));
      expect(error).toBeInstanceOf(AppendInWriteTransactionError);
    });
    await expect(t.store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('wakes each organisation’s subscribers without waiting for the poll, from the pool or at commit', async () => {
    // The poll would come after the collectors' 10 s deadline: deliveries within it were woken.
    const store = new PostgresEventStore(t.db.app, { pollIntervalMs: 25_000 });
    const [a, b] = [randomUUID(), randomUUID()];
    const collectors = [a, b].map(
      (organisationId) =>
        new SubscriptionCollector(
          store.subscribeToAll({ fromPosition: 'end', filter: { organisationId } }),
        ),
    );
    try {
      await Promise.all(collectors.map((c) => c.untilCaughtUp()));
      // Past the rechecks a subscription makes just after catching up.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const first = [one(newContactStream(a), a), one(newContactStream(b), b)];
      await store.appendToStreams(first);
      await collectors[0].untilEvents(first[0].events.map((e) => e.eventId));
      await collectors[1].untilEvents(first[1].events.map((e) => e.eventId));

      const second = [one(newContactStream(b), b), one(newContactStream(a), a)];
      await inTransaction(async (client) => {
        await store.withClient(client).appendToStreams(second);
        await client.query('COMMIT');
      });
      await collectors[0].untilEvents(second[1].events.map((e) => e.eventId));
      await collectors[1].untilEvents(second[0].events.map((e) => e.eventId));
    } finally {
      await Promise.all(collectors.map((c) => c.close()));
      await store.close();
    }
  });
});
