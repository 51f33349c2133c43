import type { Configuration } from '@beecastle/config';
import { createPool, openDatabase } from '@beecastle/database';
import { verifyEventLog } from '@beecastle/event-store';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

/** Recomputes the hash chains (all organisations, or one) and prints the verdict as one JSON line. */
export async function verify(
  config: Configuration,
  organisationId: string | undefined,
  io: CliIo,
): Promise<ExitCode> {
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  try {
    // The application role suffices: verification only reads the log.
    const pool = createPool(database.appUrl, { applicationName: 'beecastle-cli-verify', max: 1 });
    try {
      const result = await verifyEventLog(pool, { organisationId });
      io.stdout(jsonLine(result));
      return result.ok ? ExitCode.Ok : ExitCode.Failed;
    } finally {
      await pool.end();
    }
  } finally {
    await database.close();
  }
}
