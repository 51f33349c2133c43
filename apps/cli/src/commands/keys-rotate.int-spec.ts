import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalMasterKeyProvider, MasterKeyMismatchError } from '@beecastle/crypto';
import { CONTACT_EVENT_TYPES } from '@beecastle/domain';
import { streamName, verifyEventLog } from '@beecastle/event-store';
import { decodeContactEvent, openEventLog } from '@beecastle/read-model';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../libs/database/src/testing/test-database';
import { openTestEventLog } from '../../../../libs/read-model/src/testing/test-event-log';
import { runCli } from '../cli';
import { ExitCode } from '../exit-codes';
import { capturedIo } from '../testing/captured-io';

describe('keys:rotate and keys:rotate-master against a real database', () => {
  let db: TestDatabase;
  let dir: string;
  let organisationId: string;
  let contactIds: string[];

  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const io = capturedIo({ DATABASE_URL: db.appUrl, ...env });
    const code = await runCli(args, io);
    return { code, out: io.out, err: io.err };
  };
  /** The log as stored: what a rotation must never change. */
  const rawLog = async () =>
    (
      await db.owner.query<{ r: string }>(
        `SELECT encode(data, 'hex') || encode(metadata, 'hex') || encode(hash, 'hex') AS r
           FROM events ORDER BY tx_id, global_seq`,
      )
    ).rows.map((row) => row.r);
  /** Every contact's first name, as a process with `key` decrypts them. */
  const names = async (key?: LocalMasterKeyProvider) => {
    const log = key ? openEventLog(db.app, { masterKey: key }) : openTestEventLog(db.app);
    try {
      const events = await log.store.readAll({
        filter: { organisationId, eventTypes: CONTACT_EVENT_TYPES },
      });
      return events
        .filter((e) => !e.erased)
        .map((e) => (decodeContactEvent(e).data as { firstName?: string }).firstName);
    } finally {
      await log.close();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'beecastle-keys-'));
    const created = await cli([
      'org:create',
      '--name',
      'Rotators',
      '--owner-email',
      `rotator-${randomUUID()}@example.test`,
      '--owner-password',
      'correct horse battery staple',
    ]);
    ({ organisationId } = JSON.parse(created.out) as { organisationId: string });
    const file = join(dir, 'contacts.jsonl');
    await writeFile(
      file,
      ['Ada', 'Grace', 'Edsger'].map((firstName) => JSON.stringify({ firstName })).join('\n'),
    );
    const imported = await cli(['contacts:import', '--org', organisationId, '--file', file]);
    ({ ids: contactIds } = JSON.parse(imported.out) as { ids: string[] });
    // One of them erased: its key must stay destroyed through every rotation.
    const log = openTestEventLog(db.app);
    await log.keyring.destroy(organisationId, contactIds[2]);
    await log.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('keys:rotate re-wraps the organisation’s data keys, records it, and rewrites nothing', async () => {
    const before = await rawLog();
    expect(await names()).toEqual(['Ada', 'Grace']);

    const first = await cli(['keys:rotate', '--org', organisationId]);
    expect(first.code).toBe(ExitCode.Ok);
    expect(JSON.parse(first.out)).toEqual({
      organisationId,
      version: 2,
      previousVersion: 1,
      // The two live contacts and the organisation's own key; not the erased one.
      dataKeysRewrapped: 3,
      resumed: false,
    });
    const second = await cli(['keys:rotate', '--org', organisationId]);
    expect(JSON.parse(second.out)).toMatchObject({ version: 3, previousVersion: 2 });

    expect(await names()).toEqual(['Ada', 'Grace']);
    const after = await rawLog();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(await verifyEventLog(db.app, { organisationId })).toMatchObject({ ok: true });

    const log = openTestEventLog(db.app);
    try {
      const recorded = await log.store.readStream(
        streamName('keys', organisationId, organisationId),
      );
      expect(
        recorded.map((e) => [
          e.type,
          e.metadata.actorId,
          JSON.parse(Buffer.from(e.data).toString()) as unknown,
        ]),
      ).toEqual([
        [
          'OrganisationKeyRotated',
          'cli:keys:rotate',
          { version: 2, previousVersion: 1, dataKeysRewrapped: 3, resumed: false },
        ],
        [
          'OrganisationKeyRotated',
          'cli:keys:rotate',
          { version: 3, previousVersion: 2, dataKeysRewrapped: 3, resumed: false },
        ],
      ]);
      const read = await log.keyring.keysForReading(organisationId, [`${contactIds[2]}:1`]);
      expect(read.get(`${contactIds[2]}:1`)).toBe('destroyed');
    } finally {
      await log.close();
    }
  });

  it('keys:rotate refuses an organisation that does not exist, and a missing --org', async () => {
    const unknown = await cli(['keys:rotate', '--org', randomUUID()]);
    expect([unknown.code, unknown.out]).toEqual([ExitCode.Usage, '']);
    expect(unknown.err).toMatch(/^keys:rotate refused: there is no organisation /);
    expect((await cli(['keys:rotate'])).code).toBe(ExitCode.Usage);
  });

  it('keys:rotate-master moves every organisation key to the new master key; the old one then opens nothing', async () => {
    const refused = await cli(['keys:rotate-master']);
    expect([refused.code, refused.err]).toEqual([
      ExitCode.Usage,
      expect.stringContaining('NEW_MASTER_KEY must be 32 random bytes in base64'),
    ]);

    const before = await rawLog();
    const newKey = randomBytes(32);
    const next = new LocalMasterKeyProvider(newKey, 'the new key');
    const rotated = await cli(['keys:rotate-master'], {
      NEW_MASTER_KEY: newKey.toString('base64'),
    });
    expect(rotated.code).toBe(ExitCode.Ok);
    expect(JSON.parse(rotated.out)).toMatchObject({
      masterKeyId: next.keyId,
      previousMasterKeyId: expect.stringMatching(/^local:/),
    });
    expect(rotated.err).toContain(
      'Restart every API and projector with MASTER_KEY set to the new key',
    );

    // With the new key everything decrypts; with the old one, start-up fails closed.
    expect(await names(next)).toEqual(['Ada', 'Grace']);
    const old = openTestEventLog(db.app);
    try {
      await expect(old.keyring.assertMasterKey()).rejects.toThrow(MasterKeyMismatchError);
      await expect(old.keyring.assertMasterKey()).rejects.toThrow(
        /was retired by keys:rotate-master/,
      );
    } finally {
      await old.close();
    }
    const withOld = await cli(['keys:rotate', '--org', organisationId]);
    expect(withOld.code).toBe(ExitCode.Unavailable);
    expect(withOld.err).toMatch(/retired by keys:rotate-master/);

    // Nothing of the log changed; the rotation is on record, under the new key.
    const after = await rawLog();
    expect(after.slice(0, before.length)).toEqual(before);
    const log = openEventLog(db.app, { masterKey: next });
    try {
      const [recorded] = await log.store.readStream(
        streamName('platform', '00000000-0000-0000-0000-000000000000', 'master-keys'),
      );
      expect([recorded.type, recorded.metadata.actorId]).toEqual([
        'MasterKeyRotated',
        'cli:keys:rotate-master',
      ]);
    } finally {
      await log.close();
    }
    // Rotating again (now from the new key) works as well.
    const again = await cli(['keys:rotate', '--org', organisationId], {
      MASTER_KEY: newKey.toString('base64'),
    });
    expect(again.code).toBe(ExitCode.Ok);
  });
});
