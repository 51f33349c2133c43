import type { Configuration } from '@beecastle/config';
import { openDatabase } from '@beecastle/database';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

/**
 * Applies pending migrations (opening the database does that) and prints which ran. With an
 * external database that needs the owner's connection: the application role may not alter the
 * schema.
 */
export async function migrate(config: Configuration, io: CliIo): Promise<ExitCode> {
  if (config.databaseUrl !== undefined && config.databaseOwnerUrl === undefined) {
    io.stderr(
      'migrate needs DATABASE_OWNER_URL (the schema owner’s connection) when DATABASE_URL is set\n',
    );
    return ExitCode.Usage;
  }
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  try {
    io.stdout(jsonLine({ migrationsApplied: database.migrationsApplied }));
    return ExitCode.Ok;
  } finally {
    await database.close();
  }
}
