import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Configuration } from '@beecastle/config';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres';
import { runMigrations } from './migrate';
import { provisionDatabase } from './provision';

export interface DatabaseRuntime {
  /** The application role: INSERT/SELECT on the log, no ownership, no BYPASSRLS. */
  readonly appUrl: string;
  readonly ownerUrl?: string;
  readonly embedded: boolean;
  readonly migrationsApplied: readonly string[];
  close(): Promise<void>;
}

export const EMBEDDED_DATABASE = 'beecastle';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The port of an embedded cluster another process (the server, say) is running, if any. */
function runningClusterPort(clusterDir: string): number | undefined {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pidLine, , , portLine] = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidLine);
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale file from a crash: PostgreSQL clears it on its next start
  }
  const port = Number(portLine);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/**
 * Plain-text connections to a remote database are refused: TLS or nothing, unless the operator
 * says otherwise out loud.
 */
export function checkDatabaseTls(url: string, allowInsecure: boolean): string | undefined {
  const parsed = new URL(url);
  const sslmode =
    parsed.searchParams.get('sslmode') ??
    (parsed.searchParams.get('ssl') === 'true' ? 'require' : 'disable');
  const local =
    parsed.hostname === '' ||
    LOOPBACK_HOSTS.has(parsed.hostname) ||
    parsed.hostname.startsWith('/');
  if (['verify-full', 'verify-ca', 'require'].includes(sslmode) || local || allowInsecure) {
    return allowInsecure && !local && sslmode === 'disable'
      ? 'DATABASE_URL connects without TLS because ALLOW_INSECURE_DATABASE=true'
      : undefined;
  }
  throw new Error(
    'DATABASE_URL has no TLS (add sslmode=verify-full) and is not local; set ALLOW_INSECURE_DATABASE=true to accept that risk',
  );
}

/**
 * Opens the database the configuration names. Unset `DATABASE_URL`: the embedded PostgreSQL under
 * `DATA_DIR/postgres`, started here or, if another process already runs it, joined; it persists
 * across restarts. Either way, pending migrations run before anything else touches the schema.
 */
export async function openDatabase(
  config: Configuration,
  log: (message: string) => void,
): Promise<DatabaseRuntime> {
  if (config.databaseUrl) {
    const warning = checkDatabaseTls(config.databaseUrl, config.allowInsecureDatabase);
    if (warning) log(warning);
    const applied = config.databaseOwnerUrl ? await runMigrations(config.databaseOwnerUrl) : [];
    return {
      appUrl: config.databaseUrl,
      ownerUrl: config.databaseOwnerUrl,
      embedded: false,
      migrationsApplied: applied,
      close: () => Promise.resolve(),
    };
  }

  const clusterDir = join(config.dataDir, 'postgres');
  const secretsDir = join(config.dataDir, 'secrets');
  let handle: EmbeddedPostgresHandle | undefined;
  let superuserUrl: string;
  const port = runningClusterPort(clusterDir);
  if (port !== undefined) {
    const password = readFileSync(join(secretsDir, 'postgres-superuser'), 'utf8').trim();
    superuserUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    log(`Joined the embedded PostgreSQL already running on 127.0.0.1:${port}`);
  } else {
    handle = await startEmbeddedPostgres({
      clusterDir,
      secretsDir,
      port: await freePort(),
      persistent: true,
    });
    superuserUrl = handle.superuserUrl;
    log(`Embedded PostgreSQL started on 127.0.0.1:${handle.port} (data in ${clusterDir})`);
  }
  const { ownerUrl, appUrl } = await provisionDatabase(superuserUrl, EMBEDDED_DATABASE, secretsDir);
  const applied = await runMigrations(ownerUrl);
  return {
    appUrl,
    ownerUrl,
    embedded: true,
    migrationsApplied: applied,
    close: async () => {
      if (handle) await handle.stop();
    },
  };
}
