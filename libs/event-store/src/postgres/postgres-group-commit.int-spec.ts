import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { describeEventStoreContract } from '../contract/event-store.contract';
import { SubscriptionCollector } from '../contract/subscription-collector';
import { newContactStream, newEvent, newEvents } from '../contract/test-events';
import { InvalidEventError, OrganisationMismatchError, WrongExpectedVersionError } from '../errors';
import type { AppendResult, ExpectedRevision, NewEvent } from '../event-store.port';
import { comparePositions } from '../position';
import { PostgresEventStore } from './postgres-event-store';
import { usePostgresTestStore } from './testing/postgres-test-store';
import { verifyEventLog } from './verify-event-log';

// Real PostgreSQL on a possibly loaded machine: waits are for conditions, with generous deadlines.
jest.setTimeout(30_000);

interface Append {
  readonly stream: string;
  readonly events: readonly NewEvent[];
  readonly expectedRevision: ExpectedRevision;
}

/**
 * Group commit (group-commit.ts): appends made while one is in flight share one
 * `append_to_streams` call, yet each caller gets the answer it would have had alone. One group in
 * flight here, so that what is asked for while a first append runs forms the next group.
 */
describe('PostgreSQL group commit', () => {
  const t = usePostgresTestStore({ pollIntervalMs: 100, groupCommit: { maxGroups: 1 } });
  const stats = () => ({ ...t.store.groupCommitStats! });

  /**
   * Makes `appends` while a first append (to a stream of its own) is in flight, so that they queue
   * and go out together when it returns. Settles them in the order given.
   */
  async function whileOneIsInFlight(
    appends: readonly Append[],
  ): Promise<PromiseSettledResult<AppendResult>[]> {
    // A group's slot frees once its callers have run on.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const organisationId = randomUUID();
    const first = t.store.appendToStream(
      newContactStream(organisationId),
      newEvents(organisationId, 1),
      { expectedRevision: 'no_stream' },
    );
    const outcomes = Promise.allSettled(
      appends.map((a) => t.store.appendToStream(a.stream, a.events, a)),
    );
    await first;
    return outcomes;
  }

  function fulfilled(outcome: PromiseSettledResult<AppendResult>): AppendResult {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  }

  function rejected(outcome: PromiseSettledResult<AppendResult>): unknown {
    if (outcome.status === 'fulfilled') throw new Error('Expected the append to be refused');
    return outcome.reason;
  }

  async function countEvents(stream: string): Promise<number> {
    const { rows } = await t.db.owner.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM events WHERE stream_id = $1',
      [stream],
    );
    return rows[0].n;
  }

  /** The results share one transaction, each at the position its stream's last event has. */
  async function expectOneTransaction(
    results: readonly AppendResult[],
    streams: readonly string[],
  ): Promise<void> {
    expect(new Set(results.map((r) => r.position.commit)).size).toBe(1);
    for (const [i, stream] of streams.entries()) {
      const [last] = await t.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      expect(last.revision).toBe(results[i].nextExpectedRevision);
      expect(comparePositions(last.position, results[i].position)).toBe(0);
    }
  }

  it('appends made while one is in flight go out as one group, each with its own revision and position', async () => {
    const organisationId = randomUUID();
    const existing = newContactStream(organisationId);
    await t.store.appendToStream(existing, newEvents(organisationId, 3), {
      expectedRevision: 'no_stream',
    });
    const appends: Append[] = [
      ...Array.from({ length: 10 }, () => ({
        stream: newContactStream(organisationId),
        events: newEvents(organisationId, 1),
        expectedRevision: 'no_stream' as const,
      })),
      { stream: existing, events: newEvents(organisationId, 2), expectedRevision: 2n },
      {
        stream: newContactStream(organisationId),
        events: newEvents(organisationId, 3),
        expectedRevision: 'any',
      },
    ];
    const before = stats();

    const results = (await whileOneIsInFlight(appends)).map(fulfilled);

    expect(stats().groups - before.groups).toBe(1);
    expect(stats().groupedAppends - before.groupedAppends).toBe(appends.length);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([...Array(10).fill(0n), 4n, 2n]);
    await expectOneTransaction(
      results,
      appends.map((a) => a.stream),
    );
    // In the callers' order within the transaction.
    for (let i = 1; i < results.length; i += 1) {
      expect(comparePositions(results[i - 1].position, results[i].position)).toBe(-1);
    }
    expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({
      ok: true,
      eventsChecked: 18,
    });
  });

  it('a member whose expected revision is stale, or whose stream exists, fails alone; the others commit', async () => {
    const organisationId = randomUUID();
    const [stale, taken] = [1, 2].map(() => newContactStream(organisationId));
    await t.store.appendToStream(stale, newEvents(organisationId, 3), {
      expectedRevision: 'no_stream',
    });
    await t.store.appendToStream(taken, newEvents(organisationId, 1), {
      expectedRevision: 'no_stream',
    });
    const fresh = [1, 2, 3].map(() => newContactStream(organisationId));
    const appends: Append[] = [
      { stream: fresh[0], events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
      { stream: stale, events: newEvents(organisationId, 1), expectedRevision: 1n },
      { stream: fresh[1], events: newEvents(organisationId, 2), expectedRevision: 'any' },
      { stream: taken, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
      { stream: fresh[2], events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
    ];
    const before = stats();

    const outcomes = await whileOneIsInFlight(appends);

    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const staleError = rejected(outcomes[1]);
    expect(staleError).toBeInstanceOf(WrongExpectedVersionError);
    expect(staleError).toMatchObject({ stream: stale, expected: 1n, actual: 2n });
    const takenError = rejected(outcomes[3]);
    expect(takenError).toBeInstanceOf(WrongExpectedVersionError);
    expect(takenError).toMatchObject({ stream: taken, expected: 'no_stream', actual: 0n });
    // Sent three times: with both, without the first conflict, without the second.
    expect(stats().resends - before.resends).toBe(2);
    expect(stats().groups - before.groups).toBe(1);
    expect(stats().fallbacks).toBe(before.fallbacks);
    const results = [outcomes[0], outcomes[2], outcomes[4]].map(fulfilled);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n, 0n]);
    await expectOneTransaction(results, fresh);
    expect(await countEvents(stale)).toBe(3);
    expect(await countEvents(taken)).toBe(1);
  });

  it('an idempotent retry inside a group answers as the first time and writes nothing', async () => {
    const organisationId = randomUUID();
    const [exact, any, differs] = [1, 2, 3].map(() => newContactStream(organisationId));
    const exactEvents = newEvents(organisationId, 2);
    const anyEvents = newEvents(organisationId, 1);
    const differsEvents = newEvents(organisationId, 2);
    const first = await Promise.all([
      t.store.appendToStream(exact, exactEvents, { expectedRevision: 'no_stream' }),
      t.store.appendToStream(any, anyEvents, { expectedRevision: 'any' }),
      t.store.appendToStream(differs, differsEvents, { expectedRevision: 'no_stream' }),
    ]);
    await t.store.appendToStream(exact, newEvents(organisationId, 1), { expectedRevision: 1n });
    const other = newContactStream(organisationId);
    const before = stats();

    const outcomes = await whileOneIsInFlight([
      { stream: exact, events: exactEvents, expectedRevision: 'no_stream' },
      { stream: other, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
      { stream: any, events: anyEvents, expectedRevision: 'any' },
      {
        stream: differs,
        events: [differsEvents[0], newEvent(organisationId)],
        expectedRevision: 'no_stream',
      },
    ]);

    expect(stats().groups - before.groups).toBe(1);
    const [retriedExact, appended, retriedAny] = [outcomes[0], outcomes[1], outcomes[2]].map(
      fulfilled,
    );
    expect(retriedExact.nextExpectedRevision).toBe(1n);
    expect(comparePositions(retriedExact.position, first[0].position)).toBe(0);
    expect(retriedAny.nextExpectedRevision).toBe(0n);
    expect(comparePositions(retriedAny.position, first[1].position)).toBe(0);
    expect(appended.nextExpectedRevision).toBe(0n);
    expect(rejected(outcomes[3])).toMatchObject({ stream: differs, actual: 1n });
    expect(await countEvents(exact)).toBe(3);
    expect(await countEvents(any)).toBe(1);
    expect(await countEvents(differs)).toBe(2);
  });

  it('two appends to one stream never share a group: the second goes alone, at once', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const others = [1, 2].map(() => newContactStream(organisationId));
    const before = stats();

    const results = (
      await whileOneIsInFlight([
        { stream, events: newEvents(organisationId, 1), expectedRevision: 'any' },
        { stream: others[0], events: newEvents(organisationId, 1), expectedRevision: 'any' },
        { stream, events: newEvents(organisationId, 1), expectedRevision: 'any' },
        { stream: others[1], events: newEvents(organisationId, 1), expectedRevision: 'any' },
      ])
    ).map(fulfilled);

    expect(stats().groups - before.groups).toBe(1);
    expect(stats().groupedAppends - before.groupedAppends).toBe(3);
    // Whichever took the stream's lock first has revision 0.
    expect([results[0], results[2]].map((r) => r.nextExpectedRevision).sort()).toEqual([0n, 1n]);
    expect(results[0].position.commit).toBe(results[1].position.commit);
    expect(results[3].position.commit).toBe(results[1].position.commit);
    expect(results[2].position.commit).not.toBe(results[1].position.commit);
    expect(await countEvents(stream)).toBe(2);
  });

  it('one caller’s malformed events fail its own append only', async () => {
    const organisationId = randomUUID();
    const streams = [1, 2, 3, 4].map(() => newContactStream(organisationId));

    const outcomes = await whileOneIsInFlight([
      { stream: streams[0], events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
      {
        stream: streams[1],
        events: [newEvent(organisationId, { eventId: 'not-a-uuid' })],
        expectedRevision: 'no_stream',
      },
      { stream: streams[2], events: newEvents(randomUUID(), 1), expectedRevision: 'no_stream' },
      { stream: streams[3], events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
    ]);

    expect(rejected(outcomes[1])).toBeInstanceOf(InvalidEventError);
    expect(rejected(outcomes[2])).toBeInstanceOf(OrganisationMismatchError);
    const results = [outcomes[0], outcomes[3]].map(fulfilled);
    await expectOneTransaction(results, [streams[0], streams[3]]);
    expect(await countEvents(streams[1])).toBe(0);
    expect(await countEvents(streams[2])).toBe(0);
  });

  it('a group that fails otherwise sends each member alone, each with its own answer', async () => {
    const organisationId = randomUUID();
    const existing = newContactStream(organisationId);
    await t.store.appendToStream(existing, newEvents(organisationId, 1), {
      expectedRevision: 'no_stream',
    });
    const fresh = [1, 2, 3].map(() => newContactStream(organisationId));
    const signature =
      'append_to_streams(text[], uuid[], text[], bigint[], integer[], uuid[], text[], smallint[], bytea[], bytea[], text[], text[])';
    const before = stats();
    await t.db.owner.query(`REVOKE EXECUTE ON FUNCTION ${signature} FROM beecastle_app`);
    let outcomes: PromiseSettledResult<AppendResult>[];
    try {
      outcomes = await whileOneIsInFlight([
        ...fresh.map((stream) => ({
          stream,
          events: newEvents(organisationId, 1),
          expectedRevision: 'no_stream' as const,
        })),
        { stream: existing, events: newEvents(organisationId, 1), expectedRevision: 5n },
      ]);
    } finally {
      await t.db.owner.query(`GRANT EXECUTE ON FUNCTION ${signature} TO beecastle_app`);
    }

    expect(stats().fallbacks - before.fallbacks).toBe(1);
    expect(stats().groups).toBe(before.groups);
    expect(outcomes.slice(0, 3).map((o) => fulfilled(o).nextExpectedRevision)).toEqual([
      0n,
      0n,
      0n,
    ]);
    expect(rejected(outcomes[3])).toMatchObject({ stream: existing, expected: 5n, actual: 0n });
    expect(await countEvents(existing)).toBe(1);
  });

  describe('with a stream locked by a caller’s open transaction', () => {
    async function holdingStream<T>(
      stream: string,
      organisationId: string,
      work: (commit: () => Promise<void>) => Promise<T>,
    ): Promise<T> {
      const client: PoolClient = await t.db.app.connect();
      try {
        await client.query('BEGIN');
        await t.store.withClient(client).appendToStream(stream, newEvents(organisationId, 1), {
          expectedRevision: 'no_stream',
        });
        return await work(async () => {
          await client.query('COMMIT');
        });
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
    }

    it('a group member waiting for it does not hold up the rest of its group', async () => {
      const organisationId = randomUUID();
      const locked = newContactStream(organisationId);
      const free = [1, 2].map(() => newContactStream(organisationId));
      const before = stats();

      const lockedResult = await holdingStream(locked, organisationId, async (commit) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const first = t.store.appendToStream(
          newContactStream(organisationId),
          newEvents(organisationId, 1),
          { expectedRevision: 'no_stream' },
        );
        const waiting = t.store.appendToStream(locked, newEvents(organisationId, 1), {
          expectedRevision: 'any',
        });
        const others = free.map((stream) =>
          t.store.appendToStream(stream, newEvents(organisationId, 1), {
            expectedRevision: 'no_stream',
          }),
        );
        await first;
        // Answered while the transaction still holds the lock.
        expect((await Promise.all(others)).map((r) => r.nextExpectedRevision)).toEqual([0n, 0n]);
        expect(stats().fallbacks - before.fallbacks).toBe(1);
        await commit();
        return waiting;
      });

      expect(lockedResult.nextExpectedRevision).toBe(1n);
      expect(await countEvents(locked)).toBe(2);
    });

    it('a lone append waiting for it does not hold up appends to other streams', async () => {
      const organisationId = randomUUID();
      const locked = newContactStream(organisationId);

      const lockedResult = await holdingStream(locked, organisationId, async (commit) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const waiting = t.store.appendToStream(locked, newEvents(organisationId, 1), {
          expectedRevision: 0n,
        });
        const others = await Promise.all(
          [1, 2, 3].map(() =>
            t.store.appendToStream(newContactStream(organisationId), newEvents(organisationId, 1), {
              expectedRevision: 'no_stream',
            }),
          ),
        );
        expect(others.map((r) => r.nextExpectedRevision)).toEqual([0n, 0n, 0n]);
        await commit();
        return waiting;
      });

      expect(lockedResult.nextExpectedRevision).toBe(1n);
    });
  });

  it('many concurrent writers to distinct streams: every append acknowledged at its place in the log, delivered once, in order', async () => {
    const organisationId = randomUUID();
    // The default configuration, as the product runs it.
    const store = new PostgresEventStore(t.db.app, { pollIntervalMs: 100 });
    const collector = new SubscriptionCollector(
      store.subscribeToAll({ fromPosition: 'end', filter: { organisationId } }),
    );
    try {
      await collector.untilCaughtUp();
      const writers = 8;
      const perWriter = 30;
      const acknowledged = new Map<string, AppendResult>();
      await Promise.all(
        Array.from({ length: writers }, async () => {
          // Each writer keeps one stream of its own going, and starts new ones.
          const own = newContactStream(organisationId);
          let ownRevision: ExpectedRevision = 'no_stream';
          for (let i = 0; i < perWriter; i += 1) {
            const toOwn = i % 3 === 0;
            const events = newEvents(organisationId, 1 + (i % 2));
            const result = await store.appendToStream(
              toOwn ? own : newContactStream(organisationId),
              events,
              { expectedRevision: toOwn ? ownRevision : 'no_stream' },
            );
            if (toOwn) ownRevision = result.nextExpectedRevision;
            acknowledged.set(events[events.length - 1].eventId, result);
          }
        }),
      );
      expect(store.groupCommitStats!.groups).toBeGreaterThan(0);

      const log = await store.readAll({ filter: { organisationId } });
      expect(log).toHaveLength(writers * perWriter * 1.5);
      for (const event of log) {
        const result = acknowledged.get(event.eventId);
        if (!result) continue;
        expect(event.revision).toBe(result.nextExpectedRevision);
        expect(comparePositions(event.position, result.position)).toBe(0);
      }
      expect(log.filter((e) => acknowledged.has(e.eventId))).toHaveLength(acknowledged.size);
      await collector.untilEvents(log.map((e) => e.eventId));
      expect(collector.events().map((e) => e.eventId)).toEqual(log.map((e) => e.eventId));
    } finally {
      await collector.close();
      await store.close();
    }
    expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({ ok: true });
  });
});

describe('PostgreSQL group commit under the contract', () => {
  const t = usePostgresTestStore();

  // One group in flight and at most three events in it: the contract's concurrent appends then
  // form many small groups, resends and next groups included.
  describeEventStoreContract('PostgreSQL, group commit in groups of at most three events', () => {
    const store = new PostgresEventStore(t.db.app, {
      pollIntervalMs: 100,
      groupCommit: { maxGroups: 1, maxGroupEvents: 3 },
    });
    return Promise.resolve({ store, teardown: () => store.close() });
  });
});
