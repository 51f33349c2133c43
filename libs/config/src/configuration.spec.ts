import { resolve } from 'node:path';
import { ConfigurationError, loadConfiguration } from './configuration';

/** The problems a configuration raises, or [] when it loads. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfiguration(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigurationError) return error.problems;
    throw error;
  }
}

describe('loadConfiguration', () => {
  it('has a default for everything, so an empty environment starts', () => {
    expect(loadConfiguration({})).toEqual({
      port: 8443,
      host: '127.0.0.1',
      dataDir: resolve('./.data'),
      databaseUrl: undefined,
      databaseOwnerUrl: undefined,
      databasePoolSize: 10,
      allowInsecureDatabase: false,
      eventStoreUrl: undefined,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      trustedProxies: [],
      logLevel: 'info',
      projectorInProcess: true,
      contactStateCacheSize: 100_000,
    });
  });

  it('treats blank values as unset', () => {
    expect(loadConfiguration({ PORT: '  ', HOST: '', LOG_LEVEL: ' ' })).toMatchObject({
      port: 8443,
      host: '127.0.0.1',
      logLevel: 'info',
    });
  });

  it('reads every setting it is given', () => {
    expect(
      loadConfiguration({
        PORT: '9443',
        HOST: '0.0.0.0',
        DATA_DIR: '/var/lib/beecastle',
        DATABASE_URL: 'postgres://app:pw@db.internal/beecastle?sslmode=verify-full',
        DATABASE_OWNER_URL: 'postgresql://owner:pw@db.internal/beecastle?sslmode=verify-full',
        DATABASE_POOL_SIZE: '25',
        TLS_CERT_FILE: '/etc/tls/cert.pem',
        TLS_KEY_FILE: '/etc/tls/key.pem',
        TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1,::1',
        LOG_LEVEL: 'DEBUG',
        PROJECTOR_IN_PROCESS: 'false',
        ALLOW_INSECURE_DATABASE: 'yes',
        CONTACT_STATE_CACHE_SIZE: '0',
      }),
    ).toEqual({
      port: 9443,
      host: '0.0.0.0',
      dataDir: '/var/lib/beecastle',
      databaseUrl: 'postgres://app:pw@db.internal/beecastle?sslmode=verify-full',
      databaseOwnerUrl: 'postgresql://owner:pw@db.internal/beecastle?sslmode=verify-full',
      databasePoolSize: 25,
      allowInsecureDatabase: true,
      eventStoreUrl: undefined,
      tlsCertFile: '/etc/tls/cert.pem',
      tlsKeyFile: '/etc/tls/key.pem',
      trustedProxies: ['10.0.0.0/8', '192.168.1.1', '::1'],
      logLevel: 'debug',
      projectorInProcess: false,
      contactStateCacheSize: 0,
    });
  });

  it.each([
    [{ PORT: 'https' }, 'PORT must be a whole number from 1 to 65535 (got "https")'],
    [{ PORT: '70000' }, 'PORT must be a whole number from 1 to 65535 (got "70000")'],
    [{ PORT: '0' }, 'PORT must be a whole number from 1 to 65535 (got "0")'],
    [{ PORT: '84.5' }, 'PORT must be a whole number from 1 to 65535 (got "84.5")'],
    [
      { DATABASE_POOL_SIZE: '0' },
      'DATABASE_POOL_SIZE must be a whole number from 1 to 100 (got "0")',
    ],
    [
      { DATABASE_POOL_SIZE: '101' },
      'DATABASE_POOL_SIZE must be a whole number from 1 to 100 (got "101")',
    ],
    [
      { DATABASE_POOL_SIZE: 'ten' },
      'DATABASE_POOL_SIZE must be a whole number from 1 to 100 (got "ten")',
    ],
    [
      { CONTACT_STATE_CACHE_SIZE: '-1' },
      'CONTACT_STATE_CACHE_SIZE must be a whole number from 0 to 10000000 (got "-1")',
    ],
    [{ HOST: 'local host' }, 'HOST must be an IP address or a host name (got "local host")'],
    [
      { LOG_LEVEL: 'verbose' },
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    ],
    [
      { PROJECTOR_IN_PROCESS: 'sometimes' },
      'PROJECTOR_IN_PROCESS must be true or false (got "sometimes")',
    ],
    [
      { TLS_CERT_FILE: '/etc/tls/cert.pem' },
      'TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither for a generated development certificate',
    ],
    [
      { TLS_KEY_FILE: '/etc/tls/key.pem' },
      'TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither for a generated development certificate',
    ],
    [
      { TRUSTED_PROXIES: '10.0.0.0/33' },
      'TRUSTED_PROXIES entry "10.0.0.0/33" is not an IP address or CIDR range',
    ],
    [
      { TRUSTED_PROXIES: '10.0.0.1,proxy.internal' },
      'TRUSTED_PROXIES entry "proxy.internal" is not an IP address or CIDR range',
    ],
    [
      { DATABASE_OWNER_URL: 'postgres://owner:pw@localhost/beecastle?sslmode=verify-full' },
      'DATABASE_OWNER_URL is set but DATABASE_URL is not: set both, or neither for the embedded database',
    ],
    [
      { EVENTSTORE_URL: 'esdb://localhost:2113' },
      'EVENTSTORE_URL is set, but this build has only the PostgreSQL event log: unset it (EventStoreDB support is not built yet)',
    ],
  ])('names the mistake in %j in one line', (env, expected) => {
    expect(problemsOf(env)).toEqual([expected]);
  });

  it('reports every mistake at once, each on its own line', () => {
    const env = { PORT: 'x', LOG_LEVEL: 'loud', TRUSTED_PROXIES: 'nope' };
    const problems = problemsOf(env);
    expect(problems).toHaveLength(3);
    for (const problem of problems) expect(problem).not.toContain('\n');
    let message = '';
    try {
      loadConfiguration(env);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'Invalid configuration:',
      ...problems.map((problem) => `  - ${problem}`),
    ]);
  });

  describe('a database connection without verified TLS', () => {
    const refusal = (name: string) =>
      `${name} must use TLS with full verification: add sslmode=verify-full (and sslrootcert=<CA file> for a private CA), or connect through a local socket (host starting with /), or set ALLOW_INSECURE_DATABASE=true to accept the risk`;

    it.each([
      ['no sslmode', 'postgres://app:s3cr3t-pw@db.internal/beecastle'],
      ['loopback TCP', 'postgres://app:s3cr3t-pw@127.0.0.1:5432/beecastle'],
      ['sslmode=require (no check of who answers)', 'postgres://app@db.internal/b?sslmode=require'],
      [
        'sslmode=verify-ca (no check of the name)',
        'postgres://app@db.internal/b?sslmode=verify-ca',
      ],
      ['sslmode=prefer', 'postgres://app@db.internal/b?sslmode=prefer'],
      ['ssl=true without sslmode', 'postgres://app@db.internal/b?ssl=true'],
      ['a ?host= that is not a socket', 'postgres://app@localhost/beecastle?host=db.internal'],
    ])('is refused at boot: %s', (_name, url) => {
      expect(problemsOf({ DATABASE_URL: url })).toEqual([refusal('DATABASE_URL')]);
      expect(
        problemsOf({
          DATABASE_URL: 'postgres://app@db.internal/b?sslmode=verify-full',
          DATABASE_OWNER_URL: url,
        }),
      ).toEqual([refusal('DATABASE_OWNER_URL')]);
    });

    it.each([
      [
        'sslmode=verify-full',
        'postgres://app@db.internal/b?sslmode=verify-full&sslrootcert=/ca.pem',
      ],
      ['a socket in ?host=', 'postgres://app@localhost/beecastle?host=/var/run/postgresql'],
      ['a socket and no user', 'postgres:///beecastle?host=/var/run/postgresql'],
      ['a percent-encoded socket host', 'postgresql://app@%2Fvar%2Frun%2Fpostgresql/beecastle'],
    ])('is accepted with %s', (_name, url) => {
      expect(problemsOf({ DATABASE_URL: url, DATABASE_OWNER_URL: url })).toEqual([]);
    });

    it('is accepted when ALLOW_INSECURE_DATABASE=true says so out loud', () => {
      const url = 'postgres://app@db.internal/beecastle';
      expect(
        loadConfiguration({
          DATABASE_URL: url,
          DATABASE_OWNER_URL: url,
          ALLOW_INSECURE_DATABASE: 'true',
        }),
      ).toMatchObject({ databaseUrl: url, databaseOwnerUrl: url, allowInsecureDatabase: true });
    });
  });

  describe('never echoes a secret', () => {
    it.each([
      ['an unparseable DATABASE_URL', { DATABASE_URL: 'postgres://app:s3cr3t-pw@[db' }],
      ['a DATABASE_URL of another scheme', { DATABASE_URL: 'mysql://app:s3cr3t-pw@db/beecastle' }],
      [
        'an unparseable DATABASE_OWNER_URL',
        {
          DATABASE_URL: 'postgres://app@db/x?sslmode=verify-full',
          DATABASE_OWNER_URL: 'postgres://o:s3cr3t-pw@[db',
        },
      ],
    ])('in %s', (_name, env) => {
      const problems = problemsOf(env);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^DATABASE_(OWNER_)?URL /);
      expect(problems.join('\n')).not.toContain('s3cr3t');
    });
  });

  describe('MASTER_KEY', () => {
    const key = Buffer.alloc(32, 0xa5);

    it('is read as 32 bytes from base64, padded or not', () => {
      const base64 = key.toString('base64');
      expect(loadConfiguration({ MASTER_KEY: base64 }).masterKey).toEqual(key);
      expect(loadConfiguration({ MASTER_KEY: base64.replace(/=$/, '') }).masterKey).toEqual(key);
      expect(loadConfiguration({}).masterKey).toBeUndefined();
    });

    it.each([
      ['16 bytes', Buffer.alloc(16, 1).toString('base64')],
      ['33 bytes', Buffer.alloc(33, 1).toString('base64')],
      ['hex', key.toString('hex')],
      ['base64url', Buffer.alloc(32, 0xfb).toString('base64url')],
      ['a passphrase', 's3cr3t passphrase that is long enough to be 44!'],
    ])('refuses %s without showing it', (_name, value) => {
      const problems = problemsOf({ MASTER_KEY: value });
      expect(problems).toEqual([
        'MASTER_KEY must be 32 random bytes in base64, 44 characters (make one with `openssl rand -base64 32`; value not shown)',
      ]);
      expect(problems[0]).not.toContain(value);
    });
  });
});
