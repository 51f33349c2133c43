import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { databaseTransport, type Configuration } from '@beecastle/config';
import {
  LOOPBACK_NAMES,
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
} from '@beecastle/runtime';
import {
  embeddedSuperuserUrl,
  freePort,
  startEmbeddedPostgres,
  type EmbeddedPostgresHandle,
} from './embedded-postgres';

// Where callers (the benchmarks, the tests' global setup) have always found it.
export { freePort } from './embedded-postgres';
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

/**
 * What the configuration check let through only because ALLOW_INSECURE_DATABASE=true: a warning
 * per connection string that is neither verified TLS nor a local socket.
 */
export function insecureDatabaseWarnings(config: Configuration): string[] {
  if (!config.allowInsecureDatabase) return [];
  return [
    ['DATABASE_URL', config.databaseUrl],
    ['DATABASE_OWNER_URL', config.databaseOwnerUrl],
  ].flatMap(([name, url]) =>
    url !== undefined && databaseTransport(url) === 'insecure'
      ? [
          `${name} connects without verified TLS because ALLOW_INSECURE_DATABASE=true: whoever is on the network path can read and alter the traffic, passwords included`,
        ]
      : [],
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
  warn: (message: string) => void = (message) => log(`Warning: ${message}`),
): Promise<DatabaseRuntime> {
  if (config.databaseUrl) {
    for (const warning of insecureDatabaseWarnings(config)) warn(warning);
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
  // The same local CA as the API's certificate: one file for every client to trust.
  const ca = await ensureLocalCertificateAuthority(join(config.dataDir, 'tls'));
  let handle: EmbeddedPostgresHandle | undefined;
  let superuserUrl: string;
  const port = runningClusterPort(clusterDir);
  if (port !== undefined) {
    const password = readFileSync(join(secretsDir, 'postgres-superuser'), 'utf8').trim();
    superuserUrl = embeddedSuperuserUrl(password, port, ca.certFile);
    log(`Joined the embedded PostgreSQL already running on 127.0.0.1:${port}`);
  } else {
    const certificate = await ensureServerCertificate(ca, 'postgres', LOOPBACK_NAMES);
    handle = await startEmbeddedPostgres({
      clusterDir,
      secretsDir,
      port: await freePort(),
      persistent: true,
      tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile: ca.certFile },
    });
    superuserUrl = handle.superuserUrl;
    log(
      `Embedded PostgreSQL started on 127.0.0.1:${handle.port}, TLS only, verified against ${ca.certFile} (data in ${clusterDir})`,
    );
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
