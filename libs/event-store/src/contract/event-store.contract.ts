import { randomUUID } from 'node:crypto';
import {
  InvalidEventError,
  InvalidStreamNameError,
  OrganisationMismatchError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../errors';
import type {
  AppendResult,
  EventStore,
  NewEvent,
  RecordedEvent,
  StreamAppend,
  SubscribeToAllOptions,
  SubscriptionMessage,
} from '../event-store.port';
import { comparePositions, type Position } from '../position';
import { SubscriptionCollector } from './subscription-collector';
import { newContactStream, newEvent, newEvents, rejectionOf } from './test-events';

export interface EventStoreHarness {
  readonly store: EventStore;
  teardown(): Promise<void>;
}

/**
 * The behaviour every EventStore adapter must show (EventStoreDB semantics, ARCHITECTURE §4).
 *
 * `harness` runs before each test and `teardown` after it. The store may be shared between tests
 * and may already hold events: every test works in fresh organisations and streams, filters by its
 * own organisation where the log is global, and never assumes an empty log. Subscription tests wait
 * for conditions with deadlines, so adapters that deliver asynchronously pass too.
 */
export function describeEventStoreContract(
  name: string,
  harness: () => Promise<EventStoreHarness>,
  options: {
    /** The store sets `metadata.keyId` itself (the encryption layer): any given one is replaced. */
    readonly setsKeyId?: boolean;
  } = {},
): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let teardown: (() => Promise<void>) | undefined;
    let organisationId: string;
    const opened: SubscriptionCollector[] = [];

    beforeEach(async () => {
      ({ store, teardown } = await harness());
      organisationId = randomUUID();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.close()));
      await teardown?.();
      teardown = undefined;
    });

    function subscribe(options: SubscribeToAllOptions): SubscriptionCollector {
      const collector = new SubscriptionCollector(store.subscribeToAll(options));
      opened.push(collector);
      return collector;
    }

    function readOwn(orgId = organisationId): Promise<RecordedEvent[]> {
      return store.readAll({ filter: { organisationId: orgId } });
    }

    async function seed(stream: string, count: number): Promise<NewEvent[]> {
      const events = newEvents(organisationId, count);
      await store.appendToStream(stream, events, { expectedRevision: 'any' });
      return events;
    }

    const ids = (events: readonly { eventId: string }[]): string[] => events.map((e) => e.eventId);
    const revisions = (events: readonly RecordedEvent[]): bigint[] => events.map((e) => e.revision);
    const range = (from: number, to: number): bigint[] =>
      Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));

    function expectWrongExpectedVersion(
      error: unknown,
      stream: string,
      expected: WrongExpectedVersionError['expected'],
      actual: WrongExpectedVersionError['actual'],
    ): void {
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      const e = error as WrongExpectedVersionError;
      expect({ stream: e.stream, expected: e.expected, actual: e.actual, code: e.code }).toEqual({
        stream,
        expected,
        actual,
        code: 'WRONG_EXPECTED_VERSION',
      });
    }

    function expectStrictlyIncreasing(positions: readonly Position[]): void {
      for (let i = 1; i < positions.length; i += 1) {
        expect(comparePositions(positions[i - 1], positions[i])).toBe(-1);
      }
    }

    describe('expected revision', () => {
      it('no_stream on a new stream writes revisions 0 to n-1', async () => {
        const stream = newContactStream(organisationId);
        const events = newEvents(organisationId, 3);

        const result = await store.appendToStream(stream, events, {
          expectedRevision: 'no_stream',
        });

        expect(result.nextExpectedRevision).toBe(2n);
        const read = await store.readStream(stream);
        expect(revisions(read)).toEqual([0n, 1n, 2n]);
        expect(ids(read)).toEqual(ids(events));
        expect(read.every((e) => e.streamId === stream)).toBe(true);
        expect(comparePositions(read[2].position, result.position)).toBe(0);
      });

      it('no_stream on an existing stream fails with the actual revision', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 3);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), {
            expectedRevision: 'no_stream',
          }),
        );

        expectWrongExpectedVersion(error, stream, 'no_stream', 2n);
        expect(await store.readStream(stream)).toHaveLength(3);
      });

      it('an exact revision appends when it equals the last revision', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 2);

        const result = await store.appendToStream(stream, newEvents(organisationId, 2), {
          expectedRevision: 1n,
        });

        expect(result.nextExpectedRevision).toBe(3n);
        expect(revisions(await store.readStream(stream))).toEqual([0n, 1n, 2n, 3n]);
      });

      it('an exact revision lower than the last fails', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 2);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), { expectedRevision: 0n }),
        );

        expectWrongExpectedVersion(error, stream, 0n, 1n);
        expect(await store.readStream(stream)).toHaveLength(2);
      });

      it('an exact revision higher than the last fails', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 2);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), { expectedRevision: 5n }),
        );

        expectWrongExpectedVersion(error, stream, 5n, 1n);
        expect(await store.readStream(stream)).toHaveLength(2);
      });

      it('an exact revision on a missing stream fails with actual no_stream', async () => {
        const stream = newContactStream(organisationId);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), { expectedRevision: 0n }),
        );

        expectWrongExpectedVersion(error, stream, 0n, 'no_stream');
        await expect(store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('stream_exists on a missing stream fails with actual no_stream', async () => {
        const stream = newContactStream(organisationId);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), {
            expectedRevision: 'stream_exists',
          }),
        );

        expectWrongExpectedVersion(error, stream, 'stream_exists', 'no_stream');
        await expect(store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('stream_exists on an existing stream appends', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 1);

        const result = await store.appendToStream(stream, newEvents(organisationId, 1), {
          expectedRevision: 'stream_exists',
        });

        expect(result.nextExpectedRevision).toBe(1n);
        expect(await store.readStream(stream)).toHaveLength(2);
      });

      it('any appends to a new stream and to an existing one', async () => {
        const stream = newContactStream(organisationId);

        const first = await store.appendToStream(stream, newEvents(organisationId, 2), {
          expectedRevision: 'any',
        });
        const second = await store.appendToStream(stream, newEvents(organisationId, 1), {
          expectedRevision: 'any',
        });

        expect([first.nextExpectedRevision, second.nextExpectedRevision]).toEqual([1n, 2n]);
        expect(revisions(await store.readStream(stream))).toEqual([0n, 1n, 2n]);
      });
    });

    describe('concurrency', () => {
      it('of 20 parallel appends with the same expected revision exactly one succeeds', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 1);
        const batches = Array.from({ length: 20 }, () => newEvents(organisationId, 2));

        const outcomes = await Promise.allSettled(
          batches.map((events) => store.appendToStream(stream, events, { expectedRevision: 0n })),
        );

        const succeeded = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        expect(succeeded).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toBeInstanceOf(WrongExpectedVersionError);
          }
        }
        const read = await store.readStream(stream);
        expect(revisions(read)).toEqual([0n, 1n, 2n]);
        expect(ids(read.slice(1))).toEqual(ids(batches[succeeded[0]]));
      });

      it('8 writers appending 50 times each with any produce revisions 0 to 399', async () => {
        const stream = newContactStream(organisationId);
        const writers = Array.from({ length: 8 }, () => newEvents(organisationId, 50));

        await Promise.all(
          writers.map(async (events) => {
            for (const event of events) {
              await store.appendToStream(stream, [event], { expectedRevision: 'any' });
            }
          }),
        );

        const read = await store.readStream(stream);
        expect(revisions(read)).toEqual(range(0, 399));
        expect(new Set(ids(read))).toEqual(new Set(writers.flat().map((e) => e.eventId)));
        // Each writer's own appends keep their order.
        const revisionOf = new Map(read.map((e) => [e.eventId, e.revision]));
        for (const events of writers) {
          const own = events.map((e) => revisionOf.get(e.eventId)!);
          expect(own).toEqual([...own].sort((a, b) => (a < b ? -1 : 1)));
        }
        // Global order agrees with revision order.
        const global = (await readOwn()).filter((e) => e.streamId === stream);
        expect(revisions(global)).toEqual(range(0, 399));
      });
    });

    describe('idempotent retries', () => {
      it('an exact retry succeeds with the original result and writes nothing', async () => {
        const stream = newContactStream(organisationId);
        const first = newEvents(organisationId, 2);
        const second = newEvents(organisationId, 1);
        const original = await store.appendToStream(stream, first, {
          expectedRevision: 'no_stream',
        });
        const originalSecond = await store.appendToStream(stream, second, {
          expectedRevision: 1n,
        });
        const before = await readOwn();

        const retry = await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
        const retrySecond = await store.appendToStream(stream, second, { expectedRevision: 1n });

        expect(retry.nextExpectedRevision).toBe(1n);
        expect(comparePositions(retry.position, original.position)).toBe(0);
        expect(retrySecond.nextExpectedRevision).toBe(2n);
        expect(comparePositions(retrySecond.position, originalSecond.position)).toBe(0);
        expect(await store.readStream(stream)).toHaveLength(3);
        expect(await readOwn()).toEqual(before);
      });

      it('a retry with any whose events are already in the stream writes nothing', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 1);
        const events = newEvents(organisationId, 2);
        const original = await store.appendToStream(stream, events, { expectedRevision: 'any' });
        await seed(stream, 1);

        const retry = await store.appendToStream(stream, events, { expectedRevision: 'any' });

        expect(retry.nextExpectedRevision).toBe(original.nextExpectedRevision);
        expect(comparePositions(retry.position, original.position)).toBe(0);
        expect(revisions(await store.readStream(stream))).toEqual([0n, 1n, 2n, 3n]);
      });

      it('a retry whose first id matches but a later one differs fails', async () => {
        const stream = newContactStream(organisationId);
        const events = newEvents(organisationId, 3);
        await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
        const altered = [events[0], events[1], newEvent(organisationId)];

        const error = await rejectionOf(
          store.appendToStream(stream, altered, { expectedRevision: 'no_stream' }),
        );

        expectWrongExpectedVersion(error, stream, 'no_stream', 2n);
        expect(ids(await store.readStream(stream))).toEqual(ids(events));
      });

      it('a retry with any whose first id matches but a later one differs fails', async () => {
        const stream = newContactStream(organisationId);
        const events = newEvents(organisationId, 2);
        await store.appendToStream(stream, events, { expectedRevision: 'any' });

        const error = await rejectionOf(
          store.appendToStream(stream, [events[0], newEvent(organisationId)], {
            expectedRevision: 'any',
          }),
        );

        expectWrongExpectedVersion(error, stream, 'any', 1n);
        expect(ids(await store.readStream(stream))).toEqual(ids(events));
      });
    });

    describe('atomicity and validation', () => {
      it('a batch with a wrong expected revision leaves nothing visible', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 1);
        const before = await readOwn();

        await expect(
          store.appendToStream(stream, newEvents(organisationId, 3), { expectedRevision: 3n }),
        ).rejects.toBeInstanceOf(WrongExpectedVersionError);

        expect(await store.readStream(stream)).toHaveLength(1);
        expect(await readOwn()).toEqual(before);
      });

      it('a batch with one event of another organisation leaves nothing visible', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 1);
        const other = randomUUID();
        const batch = [newEvent(organisationId), newEvent(organisationId), newEvent(other)];

        const error = await rejectionOf(
          store.appendToStream(stream, batch, { expectedRevision: 0n }),
        );

        expect(error).toBeInstanceOf(OrganisationMismatchError);
        expect((error as OrganisationMismatchError).code).toBe('ORGANISATION_MISMATCH');
        expect(await store.readStream(stream)).toHaveLength(1);
        expect(await readOwn()).toHaveLength(1);
        expect(await readOwn(other)).toEqual([]);
      });

      it('a batch with one malformed event leaves nothing visible', async () => {
        const stream = newContactStream(organisationId);
        const batch = [
          newEvent(organisationId),
          newEvent(organisationId, { eventId: 'not-a-uuid' }),
        ];

        await expect(
          store.appendToStream(stream, batch, { expectedRevision: 'no_stream' }),
        ).rejects.toBeInstanceOf(InvalidEventError);

        await expect(store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
        expect(await readOwn()).toEqual([]);
      });

      it('refuses a stream whose name carries another organisation than the metadata', async () => {
        const other = randomUUID();
        const stream = newContactStream(organisationId);

        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(other, 1), { expectedRevision: 'any' }),
        );

        expect(error).toBeInstanceOf(OrganisationMismatchError);
        await expect(store.readStream(stream)).rejects.toBeInstanceOf(StreamNotFoundError);
        expect(await readOwn()).toEqual([]);
        expect(await readOwn(other)).toEqual([]);
      });

      it.each([
        ['no organisation', 'contact-123.abc'],
        ['no id', `contact-${randomUUID()}`],
        ['an upper-case organisation', `contact-${randomUUID().toUpperCase()}.abc`],
        ['no category', `-${randomUUID()}.abc`],
        ['a character outside the id alphabet', `contact-${randomUUID()}.a/b`],
      ])('refuses a stream name with %s', async (_, stream) => {
        const error = await rejectionOf(
          store.appendToStream(stream, newEvents(organisationId, 1), { expectedRevision: 'any' }),
        );
        expect(error).toBeInstanceOf(InvalidStreamNameError);
        expect((error as InvalidStreamNameError).code).toBe('INVALID_STREAM_NAME');
        expect(await readOwn()).toEqual([]);
      });

      it('refuses to read a stream with an invalid name', async () => {
        await expect(store.readStream('contact-nope.abc')).rejects.toBeInstanceOf(
          InvalidStreamNameError,
        );
      });
    });

    describe('multi-stream appends', () => {
      const positionsOf = (results: readonly AppendResult[]) => results.map((r) => r.position);

      it('appends to three streams at once, in the order given, each at its own revision', async () => {
        const other = randomUUID();
        const [fresh, existing, anyStream] = [1, 2, 3].map(() => newContactStream(organisationId));
        const theirs = newContactStream(other);
        await seed(existing, 2);
        await seed(anyStream, 1);
        const before = await readOwn();
        const appends: StreamAppend[] = [
          { stream: fresh, events: newEvents(organisationId, 2), expectedRevision: 'no_stream' },
          { stream: theirs, events: newEvents(other, 1), expectedRevision: 'no_stream' },
          { stream: existing, events: newEvents(organisationId, 1), expectedRevision: 1n },
          { stream: anyStream, events: newEvents(organisationId, 2), expectedRevision: 'any' },
        ];

        const results = await store.appendToStreams(appends);

        expect(results.map((r) => r.nextExpectedRevision)).toEqual([1n, 0n, 2n, 2n]);
        expectStrictlyIncreasing(positionsOf(results));
        expect(revisions(await store.readStream(fresh))).toEqual([0n, 1n]);
        expect(revisions(await store.readStream(existing))).toEqual([0n, 1n, 2n]);
        expect(revisions(await store.readStream(anyStream))).toEqual([0n, 1n, 2n]);
        expect(ids(await store.readStream(theirs))).toEqual(ids(appends[1].events));
        // A later append comes after the whole of it, and the log keeps the order given.
        const later = await seed(fresh, 1);
        const own = await readOwn();
        expect(ids(own)).toEqual([
          ...ids(before),
          ...appends.filter((a) => a.stream !== theirs).flatMap((a) => ids(a.events)),
          ...ids(later),
        ]);
        expectStrictlyIncreasing(own.map((e) => e.position));
        const all = await store.readAll({ fromPosition: own[before.length].position });
        const lastOf = (stream: string) => all.filter((e) => e.streamId === stream).at(-1)!;
        expect(
          [fresh, theirs, existing, anyStream].map((stream, i) =>
            comparePositions(
              stream === fresh ? own[before.length + 1].position : lastOf(stream).position,
              results[i].position,
            ),
          ),
        ).toEqual([0, 0, 0, 0]);
        expect(await readOwn(other)).toHaveLength(1);
        // Each stream's hash chain runs on across the append.
        const chained = await store.readStream(existing);
        expect(chained[2].prevHash).toBe(chained[1].hash);
      });

      it('writes nothing to any stream when one conflicts, and names the first that does', async () => {
        const other = randomUUID();
        const [fresh, conflicting, alsoConflicting] = [1, 2, 3].map(() =>
          newContactStream(organisationId),
        );
        await seed(conflicting, 3);
        await seed(alsoConflicting, 1);
        const theirs = newContactStream(other);
        const before = await readOwn();

        const error = await rejectionOf(
          store.appendToStreams([
            { stream: fresh, events: newEvents(organisationId, 2), expectedRevision: 'no_stream' },
            { stream: theirs, events: newEvents(other, 1), expectedRevision: 'any' },
            { stream: conflicting, events: newEvents(organisationId, 1), expectedRevision: 1n },
            {
              stream: alsoConflicting,
              events: newEvents(organisationId, 1),
              expectedRevision: 'no_stream',
            },
          ]),
        );

        expectWrongExpectedVersion(error, conflicting, 1n, 2n);
        expect(await readOwn()).toEqual(before);
        expect(await readOwn(other)).toEqual([]);
        await expect(store.readStream(fresh)).rejects.toBeInstanceOf(StreamNotFoundError);
        await expect(store.readStream(theirs)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('reports a missing stream as actual no_stream', async () => {
        const [a, b] = [newContactStream(organisationId), newContactStream(organisationId)];

        const error = await rejectionOf(
          store.appendToStreams([
            { stream: a, events: newEvents(organisationId, 1), expectedRevision: 'any' },
            { stream: b, events: newEvents(organisationId, 1), expectedRevision: 'stream_exists' },
          ]),
        );

        expectWrongExpectedVersion(error, b, 'stream_exists', 'no_stream');
        expect(await readOwn()).toEqual([]);
      });

      it('an exact retry answers as the first time and writes nothing', async () => {
        const [a, b] = [newContactStream(organisationId), newContactStream(organisationId)];
        await seed(b, 1);
        const appends: StreamAppend[] = [
          { stream: a, events: newEvents(organisationId, 2), expectedRevision: 'no_stream' },
          { stream: b, events: newEvents(organisationId, 1), expectedRevision: 0n },
        ];
        const original = await store.appendToStreams(appends);
        const before = await readOwn();

        const retry = await store.appendToStreams(appends);

        expect(retry.map((r) => r.nextExpectedRevision)).toEqual([1n, 1n]);
        expect(positionsOf(retry).map((p, i) => comparePositions(p, original[i].position))).toEqual(
          [0, 0],
        );
        expect(await readOwn()).toEqual(before);
      });

      it('retries per stream: one already written answers as before, the others append', async () => {
        const [done, next] = [newContactStream(organisationId), newContactStream(organisationId)];
        const written = newEvents(organisationId, 2);
        const original = await store.appendToStreams([
          { stream: done, events: written, expectedRevision: 'no_stream' },
        ]);
        const fresh = newEvents(organisationId, 1);

        const results = await store.appendToStreams([
          { stream: done, events: written, expectedRevision: 'no_stream' },
          { stream: next, events: fresh, expectedRevision: 'no_stream' },
        ]);

        expect(comparePositions(results[0].position, original[0].position)).toBe(0);
        expect(results.map((r) => r.nextExpectedRevision)).toEqual([1n, 0n]);
        expect(ids(await readOwn())).toEqual([...ids(written), ...ids(fresh)]);
      });

      it('a retry whose first id matches but a later one differs fails, writing nothing', async () => {
        const [a, b] = [newContactStream(organisationId), newContactStream(organisationId)];
        const events = newEvents(organisationId, 2);
        await store.appendToStream(a, events, { expectedRevision: 'no_stream' });
        const before = await readOwn();

        const error = await rejectionOf(
          store.appendToStreams([
            { stream: b, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
            {
              stream: a,
              events: [events[0], newEvent(organisationId)],
              expectedRevision: 'no_stream',
            },
          ]),
        );

        expectWrongExpectedVersion(error, a, 'no_stream', 1n);
        expect(await readOwn()).toEqual(before);
      });

      it('refuses a stream named twice, writing nothing', async () => {
        const [a, b] = [newContactStream(organisationId), newContactStream(organisationId)];

        const error = await rejectionOf(
          store.appendToStreams([
            { stream: a, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
            { stream: b, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' },
            { stream: a, events: newEvents(organisationId, 1), expectedRevision: 0n },
          ]),
        );

        expect(error).toBeInstanceOf(InvalidEventError);
        expect((error as Error).message).toContain(`${a} is named twice`);
        expect(await readOwn()).toEqual([]);
      });

      it('refuses a stream whose events name another organisation, writing nothing', async () => {
        const other = randomUUID();
        const [a, b] = [newContactStream(organisationId), newContactStream(other)];

        const error = await rejectionOf(
          store.appendToStreams([
            { stream: a, events: newEvents(organisationId, 1), expectedRevision: 'any' },
            {
              stream: b,
              events: [newEvent(other), newEvent(organisationId)],
              expectedRevision: 'any',
            },
          ]),
        );

        expect(error).toBeInstanceOf(OrganisationMismatchError);
        expect((error as OrganisationMismatchError).stream).toBe(b);
        expect(await readOwn()).toEqual([]);
        expect(await readOwn(other)).toEqual([]);
      });

      it('refuses an empty append, a stream without events and an invalid name', async () => {
        const a = newContactStream(organisationId);
        const one = (stream: string, count: number): StreamAppend => ({
          stream,
          events: newEvents(organisationId, count),
          expectedRevision: 'any',
        });

        await expect(store.appendToStreams([])).rejects.toBeInstanceOf(InvalidEventError);
        await expect(
          store.appendToStreams([one(a, 1), one(newContactStream(organisationId), 0)]),
        ).rejects.toBeInstanceOf(InvalidEventError);
        await expect(
          store.appendToStreams([one(a, 1), one('contact-nope.x', 1)]),
        ).rejects.toBeInstanceOf(InvalidStreamNameError);
        expect(await readOwn()).toEqual([]);
      });

      it('two appends over the same streams in opposite orders both succeed, without deadlock', async () => {
        const streams = Array.from({ length: 8 }, () => newContactStream(organisationId));
        const rounds = 20;

        for (let round = 0; round < rounds; round += 1) {
          const forwards = streams.map((stream) => ({
            stream,
            events: newEvents(organisationId, 1),
            expectedRevision: 'any' as const,
          }));
          const backwards = [...streams].reverse().map((stream) => ({
            stream,
            events: newEvents(organisationId, 1),
            expectedRevision: 'any' as const,
          }));
          await Promise.all([store.appendToStreams(forwards), store.appendToStreams(backwards)]);
        }

        const own = await readOwn();
        expect(own).toHaveLength(streams.length * rounds * 2);
        for (const stream of streams) {
          expect(revisions(await store.readStream(stream))).toEqual(range(0, rounds * 2 - 1));
          // Global order agrees with revision order, stream by stream.
          expect(revisions(own.filter((e) => e.streamId === stream))).toEqual(
            range(0, rounds * 2 - 1),
          );
        }
      });

      it('of 10 concurrent appends creating the same stream exactly one succeeds', async () => {
        const shared = newContactStream(organisationId);
        const attempts = Array.from({ length: 10 }, () => [
          {
            stream: newContactStream(organisationId),
            events: newEvents(organisationId, 1),
            expectedRevision: 'no_stream' as const,
          },
          {
            stream: shared,
            events: newEvents(organisationId, 1),
            expectedRevision: 'no_stream' as const,
          },
        ]);

        const outcomes = await Promise.allSettled(attempts.map((a) => store.appendToStreams(a)));

        const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') {
            expectWrongExpectedVersion(outcome.reason, shared, 'no_stream', 0n);
          }
        }
        expect(ids(await readOwn())).toEqual(attempts[won[0]].flatMap((a) => ids(a.events)));
      });

      it('no committed event is skipped: a live subscriber gets exactly the acknowledged ones, in log order', async () => {
        const other = randomUUID();
        const collector = subscribe({ fromPosition: 'end', filter: { organisationId } });
        await collector.untilCaughtUp();
        const sharedStreams = [1, 2, 3].map(() => newContactStream(organisationId));
        const acknowledged = new Set<string>();
        let refused = 0;

        // Four writers; every third append is made to conflict on purpose, and its other streams
        // must then stay invisible. Shared streams with `any` keep the writers contending.
        await Promise.all(
          Array.from({ length: 4 }, async (_, writer) => {
            for (let i = 0; i < 15; i += 1) {
              await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
              const appends: StreamAppend[] = [
                {
                  stream: sharedStreams[(writer + i) % 3],
                  events: newEvents(organisationId, 1 + (i % 2)),
                  expectedRevision: 'any',
                },
                {
                  stream: newContactStream(organisationId),
                  events: newEvents(organisationId, 1),
                  expectedRevision: 'no_stream',
                },
                {
                  stream: newContactStream(other),
                  events: newEvents(other, 1),
                  expectedRevision: 'no_stream',
                },
              ];
              if (i % 3 === 2) {
                appends.push({
                  stream: sharedStreams[(writer + i + 1) % 3],
                  events: newEvents(organisationId, 1),
                  expectedRevision: 'no_stream',
                });
              }
              try {
                await store.appendToStreams(appends);
                for (const a of appends) {
                  if (a.events[0].metadata.organisationId === organisationId) {
                    for (const id of ids(a.events)) acknowledged.add(id);
                  }
                }
              } catch (error) {
                if (!(error instanceof WrongExpectedVersionError)) throw error;
                refused += 1;
              }
            }
          }),
        );
        const sentinel = await seed(newContactStream(organisationId), 1);
        await collector.untilEvents(ids(sentinel));

        const delivered = ids(collector.events()).filter((id) => id !== sentinel[0].eventId);
        expect(refused).toBeGreaterThan(0);
        expect(delivered.filter((id) => !acknowledged.has(id))).toEqual([]);
        expect([...acknowledged].filter((id) => !delivered.includes(id))).toEqual([]);
        expect(delivered).toHaveLength(acknowledged.size);
        expect([...delivered, sentinel[0].eventId]).toEqual(ids(await readOwn()));
      });
    });

    describe('readStream', () => {
      let stream: string;
      let written: NewEvent[];

      beforeEach(async () => {
        stream = newContactStream(organisationId);
        written = await seed(stream, 5);
      });

      it('reads forwards from revision 0 by default', async () => {
        const read = await store.readStream(stream);
        expect(revisions(read)).toEqual([0n, 1n, 2n, 3n, 4n]);
        expect(ids(read)).toEqual(ids(written));
      });

      it('reads forwards from a revision, inclusive, up to maxCount', async () => {
        expect(revisions(await store.readStream(stream, { fromRevision: 2n }))).toEqual([
          2n,
          3n,
          4n,
        ]);
        expect(
          revisions(await store.readStream(stream, { fromRevision: 1n, maxCount: 2 })),
        ).toEqual([1n, 2n]);
        expect(
          revisions(await store.readStream(stream, { fromRevision: 'start', maxCount: 1 })),
        ).toEqual([0n]);
      });

      it('reads backwards from the end by default', async () => {
        const read = await store.readStream(stream, { direction: 'backwards' });
        expect(revisions(read)).toEqual([4n, 3n, 2n, 1n, 0n]);
        expect(ids(read)).toEqual(ids(written).reverse());
      });

      it('reads backwards from a revision, inclusive, up to maxCount', async () => {
        expect(
          revisions(
            await store.readStream(stream, {
              direction: 'backwards',
              fromRevision: 3n,
              maxCount: 2,
            }),
          ),
        ).toEqual([3n, 2n]);
        expect(
          revisions(
            await store.readStream(stream, {
              direction: 'backwards',
              fromRevision: 'end',
              maxCount: 1,
            }),
          ),
        ).toEqual([4n]);
        expect(
          revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 0n })),
        ).toEqual([0n]);
      });

      it('reads nothing forwards from beyond the last revision', async () => {
        expect(await store.readStream(stream, { fromRevision: 5n })).toEqual([]);
      });

      it('fails with StreamNotFoundError for a stream without events', async () => {
        const missing = newContactStream(organisationId);
        const error = await rejectionOf(store.readStream(missing));
        expect(error).toBeInstanceOf(StreamNotFoundError);
        expect((error as StreamNotFoundError).stream).toBe(missing);
        await expect(store.readStream(missing, { direction: 'backwards' })).rejects.toBeInstanceOf(
          StreamNotFoundError,
        );
      });
    });

    describe('readAll', () => {
      let streams: string[];
      let written: NewEvent[];

      // Three streams, interleaved: a, b, a, c, b, a.
      beforeEach(async () => {
        streams = [1, 2, 3].map(() => newContactStream(organisationId));
        written = [];
        for (const index of [0, 1, 0, 2, 1, 0]) {
          const event = newEvent(organisationId);
          written.push(event);
          await store.appendToStream(streams[index], [event], { expectedRevision: 'any' });
        }
      });

      it('is stable: two reads return the same events', async () => {
        const first = await readOwn();
        const second = await readOwn();
        expect(ids(first)).toEqual(ids(written));
        expect(second).toEqual(first);
      });

      it('returns strictly increasing positions, each stream in revision order', async () => {
        const read = await readOwn();
        expectStrictlyIncreasing(read.map((e) => e.position));
        for (const stream of streams) {
          const own = read.filter((e) => e.streamId === stream);
          expect(revisions(own)).toEqual(range(0, own.length - 1));
        }
        // Unfiltered too, across whatever else the log holds from here on.
        const unfiltered = await store.readAll({ fromPosition: read[0].position, maxCount: 500 });
        expectStrictlyIncreasing(unfiltered.map((e) => e.position));
      });

      it('reads backwards in exactly the reverse order', async () => {
        const forwards = await readOwn();
        const backwards = await store.readAll({
          direction: 'backwards',
          filter: { organisationId },
        });
        expect(ids(backwards)).toEqual(ids(forwards).reverse());
      });

      it('reads forwards inclusive of the start position, up to maxCount', async () => {
        const all = await readOwn();

        const read = await store.readAll({
          fromPosition: all[2].position,
          maxCount: 2,
          filter: { organisationId },
        });

        expect(ids(read)).toEqual(ids(all.slice(2, 4)));
      });

      it('reads backwards inclusive of the start position, up to maxCount', async () => {
        const all = await readOwn();

        const read = await store.readAll({
          fromPosition: all[3].position,
          direction: 'backwards',
          maxCount: 3,
          filter: { organisationId },
        });

        expect(ids(read)).toEqual(ids(all.slice(1, 4)).reverse());
      });

      it('a subscription from a position starts strictly after it', async () => {
        const all = await readOwn();
        const collector = subscribe({ fromPosition: all[2].position, filter: { organisationId } });

        await collector.untilCaughtUp();

        expect(ids(collector.events())).toEqual(ids(all.slice(3)));
      });

      it('stamps recordedAt in log order, never going backwards', async () => {
        const read = await readOwn();
        for (let i = 1; i < read.length; i += 1) {
          expect(read[i].recordedAt.getTime()).toBeGreaterThanOrEqual(
            read[i - 1].recordedAt.getTime(),
          );
        }
      });
    });

    describe('payloads', () => {
      it('round-trips JSON data byte for byte', async () => {
        const stream = newContactStream(organisationId);
        // Key order, escapes, astral-plane and combining characters, and integers beyond 2^53
        // that JSON.parse would round: the store must never decode and re-encode.
        const text =
          '{"zeta":1,"alpha":{"b":[3,2,1],"a":null},"big":123456789012345678901234567890,' +
          '"unsafe":9007199254740993,"float":1.10,"name":"Zoë 👩‍👩‍👧 𝄞 e\u0301 \\u00e9 \\ud83d\\ude00",' +
          '"space" : "kept"}';
        const bytes = Buffer.from(text, 'utf8');

        await store.appendToStream(stream, [newEvent(organisationId, { data: bytes })], {
          expectedRevision: 'no_stream',
        });

        const [fromStream] = await store.readStream(stream);
        const [fromAll] = await readOwn();
        for (const event of [fromStream, fromAll]) {
          expect(Buffer.from(event.data).equals(bytes)).toBe(true);
          expect(Buffer.from(event.data).toString('utf8')).toBe(text);
        }
      });

      it('round-trips binary data, including zero bytes and invalid UTF-8', async () => {
        const stream = newContactStream(organisationId);
        const payloads = [
          Buffer.from([0x00, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x0a, 0x5c, 0x00]),
          Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
          Buffer.alloc(0),
        ];

        await store.appendToStream(
          stream,
          payloads.map((data) => newEvent(organisationId, { data })),
          { expectedRevision: 'no_stream' },
        );

        const read = await store.readStream(stream);
        expect(read.map((e) => Buffer.from(e.data).toString('hex'))).toEqual(
          payloads.map((p) => p.toString('hex')),
        );
      });

      it('round-trips metadata, key order included', async () => {
        const stream = newContactStream(organisationId);
        const metadata = {
          clientIp: '2001:db8::1',
          actorType: 'api_key' as const,
          requestId: `req-${randomUUID()}`,
          organisationId,
          causationId: randomUUID(),
          actorId: randomUUID(),
          correlationId: randomUUID(),
          keyId: 'dk-ünï-😀',
        };

        await store.appendToStream(
          stream,
          [
            {
              ...newEvent(organisationId),
              type: 'ContactNoted.v2:x-y',
              schemaVersion: 7,
              metadata,
            },
          ],
          { expectedRevision: 'no_stream' },
        );

        const [read] = await store.readStream(stream);
        if (options.setsKeyId) {
          expect(read.metadata.keyId).not.toBe(metadata.keyId);
          expect(read.metadata).toEqual({ ...metadata, keyId: read.metadata.keyId });
        } else {
          expect(read.metadata).toEqual(metadata);
        }
        expect(Object.keys(read.metadata)).toEqual(Object.keys(metadata));
        expect([read.type, read.schemaVersion]).toEqual(['ContactNoted.v2:x-y', 7]);
      });

      it('chains each event to its predecessor by hash', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 2);
        await seed(stream, 2);

        const read = await store.readStream(stream);

        expect(read[0].prevHash).toBe('0'.repeat(64));
        for (const event of read) expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
        for (let i = 1; i < read.length; i += 1) expect(read[i].prevHash).toBe(read[i - 1].hash);
        expect(new Set(read.map((e) => e.hash)).size).toBe(read.length);
      });
    });

    describe('subscribeToAll', () => {
      type CaughtUp = Extract<SubscriptionMessage, { kind: 'caughtUp' }>;
      const isCaughtUp = (m: SubscriptionMessage): m is CaughtUp => m.kind === 'caughtUp';

      it('delivers history, signals caught-up once, then delivers live events', async () => {
        const [a, b] = [newContactStream(organisationId), newContactStream(organisationId)];
        await seed(a, 2);
        await seed(b, 1);
        const history = await readOwn();
        const collector = subscribe({ fromPosition: 'start' });

        await collector.untilCaughtUp();
        const caughtUpAt = collector.messages.findIndex(isCaughtUp);
        expect(ids(collector.events(organisationId))).toEqual(ids(history));

        const live = [...(await seed(b, 1)), ...(await seed(a, 2))];
        await collector.untilEvents(ids(live));

        const own = collector.events(organisationId);
        expect(ids(own)).toEqual([...ids(history), ...ids(live)]);
        const liveIndexes = live.map((e) =>
          collector.messages.findIndex((m) => m.kind === 'event' && m.event.eventId === e.eventId),
        );
        expect(Math.min(...liveIndexes)).toBeGreaterThan(caughtUpAt);
        expect(collector.messages.filter(isCaughtUp)).toHaveLength(1);
        const all = collector.events();
        expectStrictlyIncreasing(all.map((e) => e.position));
        expect(new Set(ids(all)).size).toBe(all.length);
      });

      it('resumes strictly after a checkpoint: no duplicates, no misses', async () => {
        const stream = newContactStream(organisationId);
        const before = await seed(stream, 3);
        const first = subscribe({ filter: { organisationId } });
        const resumeFrom = (await first.untilCaughtUp()).find(isCaughtUp)!.position;
        expect(ids(first.events())).toEqual(ids(before));
        await first.close();

        const after = [
          ...(await seed(stream, 2)),
          ...(await seed(newContactStream(organisationId), 1)),
        ];
        const resumed = subscribe({ fromPosition: resumeFrom, filter: { organisationId } });
        await resumed.untilEvents(ids(after));
        await resumed.untilCaughtUp();

        expect(ids(resumed.events())).toEqual(ids(after));
        for (const event of resumed.events()) {
          expect(comparePositions(event.position, resumeFrom)).toBe(1);
        }
      });

      it('resumes strictly after the position of a delivered event', async () => {
        const stream = newContactStream(organisationId);
        const written = await seed(stream, 4);
        const all = await readOwn();

        const resumed = subscribe({ fromPosition: all[1].position, filter: { organisationId } });
        await resumed.untilCaughtUp();

        expect(ids(resumed.events())).toEqual(ids(written.slice(2)));
      });

      it('from the end delivers only events appended afterwards', async () => {
        const stream = newContactStream(organisationId);
        await seed(stream, 2);
        const collector = subscribe({ fromPosition: 'end', filter: { organisationId } });
        await collector.untilCaughtUp();

        const live = await seed(stream, 1);
        await collector.untilEvents(ids(live));

        expect(ids(collector.events())).toEqual(ids(live));
      });

      it('close ends the iteration, even with a next() pending', async () => {
        const collector = subscribe({ fromPosition: 'end', filter: { organisationId } });
        await collector.untilCaughtUp();
        const ended = collector.untilEnded();

        await collector.close();

        await ended;
        expect(collector.isDone).toBe(true);
      });
    });

    describe('filters', () => {
      it('the organisation filter returns only that organisation, in global order', async () => {
        const other = randomUUID();
        const mine = newContactStream(organisationId);
        const theirs = newContactStream(other);
        const expected: NewEvent[] = [];
        for (let i = 0; i < 3; i += 1) {
          const own = newEvent(organisationId);
          expected.push(own);
          await store.appendToStream(mine, [own], { expectedRevision: 'any' });
          await store.appendToStream(theirs, newEvents(other, 2), { expectedRevision: 'any' });
        }

        const read = await readOwn();

        expect(ids(read)).toEqual(ids(expected));
        expect(read.every((e) => e.metadata.organisationId === organisationId)).toBe(true);
        expect(await readOwn(other)).toHaveLength(6);
        const subscribed = subscribe({ filter: { organisationId } });
        await subscribed.untilCaughtUp();
        expect(ids(subscribed.events())).toEqual(ids(expected));
      });

      it('a filtered subscription checkpoints while only other organisations write', async () => {
        const other = randomUUID();
        const collector = subscribe({ fromPosition: 'end', filter: { organisationId } });
        await collector.untilCaughtUp();

        let last: Position | undefined;
        for (let i = 0; i < 3; i += 1) {
          const result = await store.appendToStream(newContactStream(other), newEvents(other, 2), {
            expectedRevision: 'no_stream',
          });
          last = result.position;
        }
        const target = last!;
        await collector.until('a checkpoint past the other organisation’s writes', (ms) =>
          ms.some((m) => m.kind === 'checkpoint' && comparePositions(m.position, target) >= 0),
        );
        expect(collector.events()).toEqual([]);

        const own = await seed(newContactStream(organisationId), 1);
        await collector.untilEvents(ids(own));
        expect(ids(collector.events())).toEqual(ids(own));
        expect(comparePositions(collector.events()[0].position, target)).toBe(1);
      });

      it('the event-type filter returns only those types', async () => {
        const stream = newContactStream(organisationId);
        const types = ['ContactCreated', 'ContactNoted', 'ContactArchived', 'ContactNoted'];
        const written = types.map((type) => newEvent(organisationId, { type }));
        await store.appendToStream(stream, written, { expectedRevision: 'no_stream' });
        const wanted = written.filter((e) => e.type !== 'ContactNoted');

        const read = await store.readAll({
          filter: { organisationId, eventTypes: ['ContactCreated', 'ContactArchived'] },
        });
        const subscribed = subscribe({
          filter: { organisationId, eventTypes: ['ContactCreated', 'ContactArchived'] },
        });
        await subscribed.untilCaughtUp();

        expect(ids(read)).toEqual(ids(wanted));
        expect(ids(subscribed.events())).toEqual(ids(wanted));
      });
    });
  });
}
