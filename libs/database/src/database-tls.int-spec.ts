import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { ensureLocalCertificateAuthority } from '@beecastle/runtime';
import {
  TEST_ENV_VARIABLE,
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from './testing/test-database';

const environment = () =>
  JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;

/** Connects, runs one query and disconnects: 'connected', or the error's code and message. */
async function attempt(config: ClientConfig): Promise<string> {
  const client = new Client({ ...config, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'connected';
  } catch (error) {
    return `${(error as NodeJS.ErrnoException).code}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The test server is started as `npm start` starts its embedded PostgreSQL (test/setup): TLS only,
 * with a certificate from a local CA, and every connection verifies it (`sslmode=verify-full`).
 */
describe('PostgreSQL over TLS', () => {
  let db: TestDatabase;
  let otherCaDir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    otherCaDir = await mkdtemp(join(tmpdir(), 'beecastle-other-ca-'));
  });
  afterAll(async () => {
    await db.drop();
    await rm(otherCaDir, { recursive: true, force: true });
  });

  /** The application's URL with its TLS settings taken out: host, port, role and password only. */
  const plainConfig = (): ClientConfig => {
    const url = new URL(db.appUrl);
    return {
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1),
    };
  };
  const caFile = () => new URL(environment().superuserUrl).searchParams.get('sslrootcert')!;

  it('carries the application’s and the owner’s connections over TLS, verified against the local CA', async () => {
    for (const url of [db.appUrl, db.ownerUrl, environment().superuserUrl]) {
      const params = new URL(url).searchParams;
      expect(params.get('sslmode')).toBe('verify-full');
      expect(params.get('sslrootcert')).toBe(caFile());
    }
    for (const pool of [db.app, db.owner]) {
      const { rows } = await pool.query<{ ssl: boolean; version: string }>(
        'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
    }
  });

  it('runs with ssl=on, TLS 1.2 at least, a key only its owner can read, and its other start flags', async () => {
    const admin = new Client({ connectionString: environment().superuserUrl });
    await admin.connect();
    try {
      const setting = async (name: string) =>
        (await admin.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name]))
          .rows[0].setting;
      expect(await setting('ssl')).toBe('on');
      expect(await setting('ssl_min_protocol_version')).toBe('TLSv1.2');
      // Not TLS, but the same start flags (serverFlags): reached the server as given.
      expect(await setting('wal_init_zero')).toBe('off');
      const keyFile = await setting('ssl_key_file');
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    } finally {
      await admin.end();
    }
  });

  it('rejects a plain-text connection in pg_hba.conf, even with the right password', async () => {
    // 28000: invalid_authorization_specification, before any password exchange.
    expect(await attempt({ ...plainConfig(), ssl: false })).toMatch(
      /^28000: pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "beecastle_app_login", database "[a-z0-9_]+", no encryption/,
    );
  });

  it('refuses a server whose certificate names another host', async () => {
    const ca = await readFile(caFile());
    // The control: the same client, expecting a name the certificate carries, connects.
    expect(await attempt({ ...plainConfig(), ssl: { ca, servername: 'localhost' } })).toBe(
      'connected',
    );
    expect(await attempt({ ...plainConfig(), ssl: { ca, servername: 'db.example.com' } })).toMatch(
      /^ERR_TLS_CERT_ALTNAME_INVALID: .*db\.example\.com/,
    );
  });

  it('refuses a server whose certificate comes from a CA the client does not trust', async () => {
    const other = await ensureLocalCertificateAuthority(otherCaDir);
    const withRootCert = (file?: string) => {
      const url = new URL(db.appUrl);
      if (file === undefined) url.searchParams.delete('sslrootcert');
      else url.searchParams.set('sslrootcert', file);
      return url.toString();
    };
    expect(await attempt({ connectionString: withRootCert(caFile()) })).toBe('connected');
    expect(await attempt({ connectionString: withRootCert(other.certFile) })).toMatch(
      /^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /,
    );
    // Without sslrootcert, only the system's CAs are trusted: ours is not one of them.
    expect(await attempt({ connectionString: withRootCert(undefined) })).toMatch(
      /^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /,
    );
  });
});
