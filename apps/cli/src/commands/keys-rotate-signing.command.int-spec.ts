import { SIGNING_KEYS_STREAM } from '@beecastle/auth';
import { PostgresEventStore } from '@beecastle/event-store';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../libs/database/src/testing/test-database';
import { runCli } from '../cli';
import { ExitCode } from '../exit-codes';
import { capturedIo } from '../testing/captured-io';

describe('keys:rotate-signing', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('activates a new key, retires the old one, records both rotations, prints one JSON line', async () => {
    const first = capturedIo({ DATABASE_URL: db.appUrl });
    await expect(runCli(['keys:rotate-signing'], first)).resolves.toBe(ExitCode.Ok);
    const one = JSON.parse(first.out) as { keyId: string; previousKeyId: string | null };
    expect(one).toEqual({ keyId: expect.any(String), previousKeyId: null });

    const second = capturedIo({ DATABASE_URL: db.appUrl });
    await expect(runCli(['keys:rotate-signing'], second)).resolves.toBe(ExitCode.Ok);
    expect(second.out.trimEnd().split('\n')).toHaveLength(1);
    const two = JSON.parse(second.out) as { keyId: string; previousKeyId: string | null };
    expect(two.previousKeyId).toBe(one.keyId);

    const { rows } = await db.owner.query<{ key_id: string; retired: boolean }>(
      'SELECT key_id, retired_at IS NOT NULL AS retired FROM signing_keys ORDER BY activated_at',
    );
    expect(rows).toEqual([
      { key_id: one.keyId, retired: true },
      { key_id: two.keyId, retired: false },
    ]);
    const events = new PostgresEventStore(db.app);
    try {
      const recorded = await events.readStream(SIGNING_KEYS_STREAM);
      expect(recorded.map((e) => [e.type, e.metadata.actorType, e.metadata.actorId])).toEqual([
        ['SigningKeyRotated', 'system', 'cli'],
        ['SigningKeyRotated', 'system', 'cli'],
      ]);
    } finally {
      await events.close();
    }
  });

  it('takes no arguments', async () => {
    const io = capturedIo({ DATABASE_URL: db.appUrl });
    await expect(runCli(['keys:rotate-signing', 'now'], io)).resolves.toBe(ExitCode.Usage);
  });
});
