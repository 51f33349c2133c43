import { ConfigurationError, loadConfiguration, type Configuration } from '@beecastle/config';
import { MasterKeyMismatchError, loadMasterKey, masterKeyNotice } from '@beecastle/crypto';
import { openDatabase } from '@beecastle/database';
import { PROJECTIONS, assertMasterKey, startPostgresProjector } from '@beecastle/read-model';
import { createRootLogger, onShutdownSignal } from '@beecastle/runtime';

/**
 * The long-running worker that tails the event log into the read models. Run as many as you like:
 * each projection is led by one instance at a time (advisory lock), the others stand by.
 */
async function main(): Promise<void> {
  let config: Configuration;
  try {
    config = loadConfiguration();
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createRootLogger(config.logLevel).child({ component: 'projector' });
  let masterKey;
  try {
    masterKey = await loadMasterKey(config);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  logger.info({ masterKeyId: masterKey.provider.keyId }, masterKeyNotice(masterKey));
  const database = await openDatabase(
    config,
    (message) => logger.info(message),
    (message) => logger.warn(message),
  );
  await assertMasterKey(database.appUrl, masterKey.provider);
  const projector = startPostgresProjector(
    database.appUrl,
    PROJECTIONS,
    (message, fields) => logger.info(fields ?? {}, message),
    masterKey.provider,
  );
  logger.info({ projections: PROJECTIONS.map((p) => p.name) }, 'projector started');
  onShutdownSignal(logger, [
    { name: 'projections', run: () => projector.stop() },
    { name: 'database', run: () => database.close() },
  ]);
}

main().catch((error: unknown) => {
  if (error instanceof MasterKeyMismatchError) {
    process.stderr.write(`BeeCastle projector cannot start: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`BeeCastle projector failed to start: ${String(error)}\n`);
  if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
