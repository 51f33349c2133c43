import { randomUUID } from 'node:crypto';
import { PostgresEventStore, streamName } from '@beecastle/event-store';
import { newEvents } from '../../../libs/event-store/src/contract/test-events';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../libs/database/src/testing/test-database';
import { capturedIo as capture } from './testing/captured-io';
import { runCli } from './cli';
import { ExitCode } from './exit-codes';

describe('CLI against a real database', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  const organisationId = randomUUID();
  const otherOrganisationId = randomUUID();
  const stream = streamName('contact', organisationId, randomUUID());

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app);
    await store.appendToStream(stream, newEvents(organisationId, 3), {
      expectedRevision: 'no_stream',
    });
    await store.appendToStream(
      streamName('contact', otherOrganisationId, randomUUID()),
      newEvents(otherOrganisationId, 2),
      { expectedRevision: 'no_stream' },
    );
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('verify prints one JSON line and exits 0 when every chain holds', async () => {
    const io = capture({ DATABASE_URL: db.appUrl });
    await expect(runCli(['verify'], io)).resolves.toBe(ExitCode.Ok);
    expect(io.out.endsWith('\n')).toBe(true);
    expect(io.out.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(io.out)).toEqual({ ok: true, eventsChecked: 5, streamsChecked: 2 });
  });

  it('verify --org checks that organisation only', async () => {
    const io = capture({ DATABASE_URL: db.appUrl });
    await expect(runCli(['verify', '--org', organisationId], io)).resolves.toBe(ExitCode.Ok);
    expect(JSON.parse(io.out)).toEqual({ ok: true, eventsChecked: 3, streamsChecked: 1 });
  });

  it('migrate with the owner’s connection reports that nothing was pending', async () => {
    const io = capture({ DATABASE_URL: db.appUrl, DATABASE_OWNER_URL: db.ownerUrl });
    await expect(runCli(['migrate'], io)).resolves.toBe(ExitCode.Ok);
    expect(JSON.parse(io.out)).toEqual({ migrationsApplied: [] });
  });

  it('verify exits 1 and names the first broken event once a payload was altered', async () => {
    const [, second] = await store.readStream(stream);
    // Tampering as an attacker with the owner's rights would: around the append-only trigger.
    await db.owner.query('ALTER TABLE events DISABLE TRIGGER events_append_only');
    await db.owner.query(
      `UPDATE events SET data = convert_to('{"note":"forged"}', 'UTF8') WHERE event_id = $1`,
      [second.eventId],
    );
    await db.owner.query('ALTER TABLE events ENABLE TRIGGER events_append_only');

    const io = capture({ DATABASE_URL: db.appUrl });
    await expect(runCli(['verify'], io)).resolves.toBe(ExitCode.Failed);
    expect(JSON.parse(io.out)).toMatchObject({
      ok: false,
      firstBrokenEvent: {
        streamId: stream,
        revision: 1,
        eventId: second.eventId,
        reason: 'hash_mismatch',
      },
    });

    const other = capture({ DATABASE_URL: db.appUrl });
    await expect(runCli(['verify', '--org', otherOrganisationId], other)).resolves.toBe(
      ExitCode.Ok,
    );
  });
});
