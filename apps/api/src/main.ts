import { ConfigurationError, loadConfiguration, type Configuration } from '@beecastle/config';
import {
  MasterKeyMismatchError,
  loadMasterKey,
  masterKeyNotice,
  type Keyring,
} from '@beecastle/crypto';
import { openDatabase } from '@beecastle/database';
import { PROJECTIONS, startPostgresProjector } from '@beecastle/read-model';
import { createRootLogger, onShutdownSignal } from '@beecastle/runtime';
import { createApp } from './create-app';
import { KEYRING } from './event-store/event-store.module';
import { startupBanner } from './startup-banner';
import { loadTlsMaterial } from './tls/tls-material';

/** A configuration mistake is the operator's to fix: say what, one line each, no stack trace. */
function exitOnConfigurationError(error: unknown): never {
  if (error instanceof ConfigurationError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

async function main(): Promise<void> {
  let config: Configuration;
  try {
    config = loadConfiguration();
  } catch (error) {
    exitOnConfigurationError(error);
  }
  const logger = createRootLogger(config.logLevel);

  const tls = await loadTlsMaterial(config).catch(exitOnConfigurationError);
  const masterKey = await loadMasterKey(config).catch(exitOnConfigurationError);
  logger.info({ masterKeyId: masterKey.provider.keyId }, masterKeyNotice(masterKey));
  const database = await openDatabase(
    config,
    (message) => logger.info(message),
    (message) => logger.warn(message),
  );
  if (database.migrationsApplied.length > 0) {
    logger.info({ migrations: database.migrationsApplied }, 'migrations applied');
  }
  try {
    const app = await createApp({
      config,
      databaseUrl: database.appUrl,
      tls,
      logger,
      masterKey: masterKey.provider,
    });
    // `npm start` runs the projector inside the API process unless PROJECTOR_IN_PROCESS=false,
    // sharing the API's keyring (the keys of what the API has just written are in it already).
    const projectorLog = logger.child({ component: 'projector' });
    const projector = config.projectorInProcess
      ? startPostgresProjector(
          database.appUrl,
          PROJECTIONS,
          (message, fields) => projectorLog.info(fields ?? {}, message),
          masterKey.provider,
          app.get<Keyring>(KEYRING),
        )
      : undefined;
    onShutdownSignal(logger, [
      // The projector first: it uses the API's keyring, which closes with the app.
      ...(projector ? [{ name: 'projector', run: () => projector.stop() }] : []),
      { name: 'http server and pools', run: () => app.close() },
      { name: 'database', run: () => database.close() },
    ]);
    await app.listen(config.port, config.host);
  } catch (error) {
    await database.close();
    throw error;
  }
  logger.info({ host: config.host, port: config.port }, 'listening');
  process.stderr.write(startupBanner(config, tls, database, masterKey));
}

main().catch((error: unknown) => {
  // Fail closed, and say why: with the wrong master key nothing could be read or written.
  if (error instanceof MasterKeyMismatchError) {
    process.stderr.write(`BeeCastle API cannot start: ${error.message}\n`);
    process.exit(1);
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const { address, port } = error as { address?: string; port?: number };
    process.stderr.write(
      `Cannot listen on ${address}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'} (set PORT or HOST)\n`,
    );
    process.exit(1);
  }
  // Anything else that stops the start is unexpected: keep the stack for whoever investigates.
  process.stderr.write(`BeeCastle API failed to start: ${String(error)}\n`);
  if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
