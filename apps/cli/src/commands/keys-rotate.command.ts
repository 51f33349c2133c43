import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import type { Configuration } from '@beecastle/config';
import {
  Keyring,
  LocalMasterKeyProvider,
  PostgresKeyStore,
  developmentMasterKeyFile,
  loadMasterKey,
} from '@beecastle/crypto';
import { createPool, openDatabase } from '@beecastle/database';
import {
  KEYS_STREAM_CATEGORY,
  MASTER_KEYS_STREAM_ID,
  PLATFORM_ORGANISATION_ID,
  type KeyEvent,
} from '@beecastle/domain';
import { StreamNotFoundError, streamName, type NewEvent } from '@beecastle/event-store';
import { openEventLog } from '@beecastle/read-model';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

/** Operators act as the system; the envelope says which command. */
const actor = (command: string) => ({ actorId: `cli:${command}`, actorType: 'system' as const });

/**
 * The same id for the same rotation, so that recording it again after a failure (the append is
 * with expected revision `any`) writes nothing the second time.
 */
function rotationEventId(...parts: readonly (string | number)[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function keyEvent(
  event: KeyEvent,
  organisationId: string,
  eventId: string,
  command: string,
): NewEvent {
  return {
    eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: Buffer.from(JSON.stringify(event.data), 'utf8'),
    metadata: { organisationId, ...actor(command) },
  };
}

/**
 * `keys:rotate --org`: a new version of the organisation's key, every live data key re-wrapped by
 * it, and OrganisationKeyRotated recorded. The log is not rewritten (data keys do not change), and
 * old versions are kept. Run it again after a failure to finish.
 */
export async function keysRotate(
  config: Configuration,
  organisationId: string,
  io: CliIo,
): Promise<ExitCode> {
  const { provider: masterKey } = await loadMasterKey(config);
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  const pool = createPool(database.appUrl, {
    applicationName: 'beecastle-cli-keys-rotate',
    max: 2,
  });
  const eventLog = openEventLog(pool, { masterKey });
  try {
    try {
      await eventLog.store.readStream(streamName('organisation', organisationId, organisationId), {
        maxCount: 1,
      });
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
      io.stderr(`keys:rotate refused: there is no organisation ${organisationId}\n`);
      return ExitCode.Usage;
    }
    const rotation = await eventLog.keyring.rotateOrganisationKey(organisationId);
    const { version, previousVersion, dataKeysRewrapped, resumed } = rotation;
    await eventLog.store.appendToStream(
      streamName(KEYS_STREAM_CATEGORY, organisationId, organisationId),
      [
        keyEvent(
          {
            type: 'OrganisationKeyRotated',
            schemaVersion: 1,
            data: { version, previousVersion, dataKeysRewrapped, resumed },
          },
          organisationId,
          rotationEventId('organisation-key-rotated', organisationId, version),
          'keys:rotate',
        ),
      ],
      { expectedRevision: 'any' },
    );
    io.stdout(jsonLine(rotation));
    return ExitCode.Ok;
  } finally {
    await eventLog.close();
    await pool.end();
    await database.close();
  }
}

/**
 * `keys:rotate-master`: from the current master key (MASTER_KEY, or the development key file) to
 * NEW_MASTER_KEY. Every organisation key gets a wrap by the new key, the old one is retired and
 * its wraps removed, and MasterKeyRotated is recorded; neither the log nor the data keys change.
 * Run it again with the same two keys after a failure. Afterwards every process must start with
 * the new key (the development key file, when that was the source, is replaced).
 */
export async function keysRotateMaster(config: Configuration, io: CliIo): Promise<ExitCode> {
  const raw = io.env.NEW_MASTER_KEY?.trim() ?? '';
  const nextKey = Buffer.from(raw, 'base64');
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(raw) || nextKey.length !== 32) {
    io.stderr(
      'keys:rotate-master refused: NEW_MASTER_KEY must be 32 random bytes in base64 (`openssl rand -base64 32`; value not shown)\n',
    );
    return ExitCode.Usage;
  }
  const current = await loadMasterKey(config);
  const next = new LocalMasterKeyProvider(nextKey, 'NEW_MASTER_KEY');
  if (next.keyId === current.provider.keyId) {
    io.stderr('keys:rotate-master refused: NEW_MASTER_KEY is the current master key\n');
    return ExitCode.Usage;
  }
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  const pool = createPool(database.appUrl, {
    applicationName: 'beecastle-cli-keys-rotate-master',
    max: 2,
  });
  try {
    const keyring = new Keyring(new PostgresKeyStore(pool), current.provider);
    // Every organisation with events may have keys (they are made on an organisation's first append).
    const organisations = async () =>
      (
        await pool.query<{ org_id: string }>('SELECT DISTINCT org_id::text AS org_id FROM streams')
      ).rows.map((row) => row.org_id);
    const rotation = await keyring.rotateMasterKey(next, organisations);
    await keyring.close();

    const eventLog = openEventLog(pool, { masterKey: next });
    try {
      await eventLog.store.appendToStream(
        streamName('platform', PLATFORM_ORGANISATION_ID, MASTER_KEYS_STREAM_ID),
        [
          keyEvent(
            {
              type: 'MasterKeyRotated',
              schemaVersion: 1,
              data: {
                masterKeyId: rotation.masterKeyId,
                previousMasterKeyId: rotation.previousMasterKeyId,
                organisationKeysWrapped: rotation.organisationKeysWrapped,
              },
            },
            PLATFORM_ORGANISATION_ID,
            rotationEventId('master-key-rotated', rotation.masterKeyId),
            'keys:rotate-master',
          ),
        ],
        { expectedRevision: 'any' },
      );
    } finally {
      await eventLog.close();
    }
    if (current.source !== 'environment') {
      // The embedded database's key file now holds the new key (written whole, then renamed in).
      const file = developmentMasterKeyFile(config.dataDir);
      await writeFile(`${file}.new`, `${nextKey.toString('base64')}\n`, { mode: 0o600 });
      await rename(`${file}.new`, file);
      io.stderr(`The development master key file ${file} now holds the new key.\n`);
    } else {
      io.stderr(
        'Restart every API and projector with MASTER_KEY set to the new key: the old one opens nothing any more.\n',
      );
    }
    io.stdout(jsonLine(rotation));
    return ExitCode.Ok;
  } finally {
    await pool.end();
    await database.close();
  }
}
