import { randomUUID } from 'node:crypto';
import { newContactStream, newEvent, newEvents, rejectionOf } from '../contract/test-events';
import { WrongExpectedVersionError } from '../errors';
import { comparePositions } from '../position';
import { usePostgresTestStore } from './testing/postgres-test-store';
import { verifyEventLog } from './verify-event-log';

/**
 * One-event appends go through their own function (`append_event`), batches through
 * `append_to_stream`: both must behave, and chain, the same.
 */
describe('PostgreSQL one-event appends', () => {
  const t = usePostgresTestStore();

  async function countEvents(stream: string): Promise<number> {
    const { rows } = await t.db.owner.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM events WHERE stream_id = $1',
      [stream],
    );
    return rows[0].n;
  }

  it('retries with any, stream_exists, an exact revision and no_stream return the original result', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const first = [newEvent(organisationId)];
    const second = [newEvent(organisationId)];
    const third = [newEvent(organisationId)];
    const a = await t.store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
    const b = await t.store.appendToStream(stream, second, { expectedRevision: 'any' });
    const c = await t.store.appendToStream(stream, third, { expectedRevision: 1n });

    const retries = [
      [await t.store.appendToStream(stream, first, { expectedRevision: 'no_stream' }), a],
      [await t.store.appendToStream(stream, second, { expectedRevision: 'any' }), b],
      [await t.store.appendToStream(stream, second, { expectedRevision: 'stream_exists' }), b],
      [await t.store.appendToStream(stream, third, { expectedRevision: 1n }), c],
    ] as const;

    for (const [retry, original] of retries) {
      expect(retry.nextExpectedRevision).toBe(original.nextExpectedRevision);
      expect(comparePositions(retry.position, original.position)).toBe(0);
    }
    expect(await countEvents(stream)).toBe(3);
  });

  it('an event already stored at another revision is a conflict with the actual revision', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    const first = [newEvent(organisationId)];
    await t.store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
    await t.store.appendToStream(stream, newEvents(organisationId, 2), { expectedRevision: 0n });

    const error = await rejectionOf(
      t.store.appendToStream(stream, first, { expectedRevision: 1n }),
    );

    expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect(error).toMatchObject({ stream, expected: 1n, actual: 2n });
    expect(await countEvents(stream)).toBe(3);
  });

  it('chains one-event and batch appends into one verifiable stream', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    await t.store.appendToStream(stream, [newEvent(organisationId)], {
      expectedRevision: 'no_stream',
    });
    await t.store.appendToStream(stream, newEvents(organisationId, 2), { expectedRevision: 0n });
    await t.store.appendToStream(stream, [newEvent(organisationId)], { expectedRevision: 'any' });

    const events = await t.store.readStream(stream);
    expect(events.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
    expect(await verifyEventLog(t.db.app, { organisationId })).toMatchObject({
      ok: true,
      eventsChecked: 4,
      streamsChecked: 1,
    });
  });

  it('keeps its connection after a conflict, instead of paying for a new one', async () => {
    const organisationId = randomUUID();
    const stream = newContactStream(organisationId);
    await t.store.appendToStream(stream, [newEvent(organisationId)], {
      expectedRevision: 'no_stream',
    });
    let opened = 0;
    const countOpened = () => {
      opened += 1;
    };
    t.db.app.on('connect', countOpened);
    try {
      for (let i = 0; i < 5; i += 1) {
        const refused = await rejectionOf(
          t.store.appendToStream(stream, [newEvent(organisationId)], {
            expectedRevision: 'no_stream',
          }),
        );
        expect(refused).toBeInstanceOf(WrongExpectedVersionError);
      }
      await t.store.appendToStream(stream, [newEvent(organisationId)], { expectedRevision: 0n });
    } finally {
      t.db.app.off('connect', countOpened);
    }
    expect(opened).toBe(0);
  });
});
