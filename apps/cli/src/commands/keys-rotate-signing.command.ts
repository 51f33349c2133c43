import { rotateSigningKey } from '@beecastle/auth';
import type { Configuration } from '@beecastle/config';
import { loadMasterKey } from '@beecastle/crypto';
import { createPool, openDatabase } from '@beecastle/database';
import { openEventLog } from '@beecastle/read-model';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

/**
 * Activates a new token signing key and retires the active one, recording SigningKeyRotated in the
 * platform stream. Tokens already issued keep working: the retired key verifies until they have
 * expired. Running API instances start signing with the new key within their reload interval.
 */
export async function keysRotateSigning(config: Configuration, io: CliIo): Promise<ExitCode> {
  const { provider: masterKey } = await loadMasterKey(config);
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  try {
    // Two connections: the key's transaction stays open while the event is appended on the other.
    const pool = createPool(database.appUrl, { applicationName: 'beecastle-cli-keys', max: 2 });
    const eventLog = openEventLog(pool, { masterKey });
    try {
      const change = await rotateSigningKey(pool, eventLog.store, eventLog.keyring, { id: 'cli' });
      io.stdout(jsonLine(change));
      return ExitCode.Ok;
    } finally {
      await eventLog.close();
      await pool.end();
    }
  } finally {
    await database.close();
  }
}
