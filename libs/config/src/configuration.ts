import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { insecureDatabaseProblem } from './database-tls';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export interface Configuration {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** The application role's connection. Unset: the embedded PostgreSQL under `dataDir`. */
  readonly databaseUrl?: string;
  /** The schema owner's connection, used to run migrations at start. */
  readonly databaseOwnerUrl?: string;
  /** Connections in the API's application-role pool: how many requests query at once. */
  readonly databasePoolSize: number;
  readonly allowInsecureDatabase: boolean;
  readonly eventStoreUrl?: string;
  /**
   * The master key (MASTER_KEY, base64 of 32 bytes) that wraps every organisation key. Unset: the
   * development key file under `dataDir`, which only the embedded database may use.
   */
  readonly masterKey?: Buffer;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly trustedProxies: readonly string[];
  readonly logLevel: LogLevel;
  /** Run the projector inside the API process (the default for `npm start`). */
  readonly projectorInProcess: boolean;
  /**
   * How much of the contacts it last wrote the API keeps in memory to decide the next change
   * without reading the stream: contacts plus their interactions (CONTACT_STATE_CACHE_SIZE; 0: none).
   */
  readonly contactStateCacheSize: number;
}

export class ConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and checks every setting at once, so an operator sees all mistakes in one go, each on one
 * line that names the variable, what was wrong and what is accepted. Never echoes secret values.
 */
export function loadConfiguration(env: Env = process.env): Configuration {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(
        `${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`,
      );
      return fallback;
    }
    return n;
  };

  const boolean = (name: string): boolean => {
    const raw = text(name);
    if (raw === undefined) return false;
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got ${JSON.stringify(raw)})`);
    return false;
  };

  const postgresUrl = (name: string): string | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    try {
      const url = new URL(raw);
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        problems.push(
          `${name} must be a postgres:// or postgresql:// URL (got scheme ${url.protocol})`,
        );
      } else {
        const insecure = insecureDatabaseProblem(name, raw, allowInsecureDatabase);
        if (insecure) problems.push(insecure);
      }
    } catch {
      problems.push(`${name} is not a valid URL (value not shown: it may hold a password)`);
    }
    return raw;
  };

  const port = integer('PORT', 8443, 1, 65535);
  const host = text('HOST') ?? '127.0.0.1';
  if (host !== 'localhost' && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    problems.push(`HOST must be an IP address or a host name (got ${JSON.stringify(host)})`);
  }

  const allowInsecureDatabase = boolean('ALLOW_INSECURE_DATABASE');
  const databaseUrl = postgresUrl('DATABASE_URL');
  const databaseOwnerUrl = postgresUrl('DATABASE_OWNER_URL');
  const databasePoolSize = integer('DATABASE_POOL_SIZE', 10, 1, 100);
  if (databaseOwnerUrl && !databaseUrl) {
    problems.push(
      'DATABASE_OWNER_URL is set but DATABASE_URL is not: set both, or neither for the embedded database',
    );
  }

  const eventStoreUrl = text('EVENTSTORE_URL');
  if (eventStoreUrl !== undefined) {
    problems.push(
      'EVENTSTORE_URL is set, but this build has only the PostgreSQL event log: unset it (EventStoreDB support is not built yet)',
    );
  }

  // Only its shape is checked here; whether one is required depends on the command (verify and
  // migrate need none), so the key provider says so when it is missing (@beecastle/crypto).
  const masterKeyRaw = text('MASTER_KEY');
  let masterKey: Buffer | undefined;
  if (masterKeyRaw !== undefined) {
    masterKey = Buffer.from(masterKeyRaw, 'base64');
    if (!/^[A-Za-z0-9+/]{43}=?$/.test(masterKeyRaw) || masterKey.length !== 32) {
      problems.push(
        'MASTER_KEY must be 32 random bytes in base64, 44 characters (make one with `openssl rand -base64 32`; value not shown)',
      );
      masterKey = undefined;
    }
  }

  const tlsCertFile = text('TLS_CERT_FILE');
  const tlsKeyFile = text('TLS_KEY_FILE');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    problems.push(
      'TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither for a generated development certificate',
    );
  }

  const trustedProxies = (text('TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const proxy of trustedProxies) {
    const [address, bits] = proxy.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    if (family === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))) {
      problems.push(
        `TRUSTED_PROXIES entry ${JSON.stringify(proxy)} is not an IP address or CIDR range`,
      );
    }
  }

  const logLevelRaw = (text('LOG_LEVEL') ?? 'info').toLowerCase();
  const logLevel = LOG_LEVELS.includes(logLevelRaw as LogLevel)
    ? (logLevelRaw as LogLevel)
    : 'info';
  if (logLevel !== logLevelRaw) {
    problems.push(
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevelRaw)})`,
    );
  }

  const projectorRaw = text('PROJECTOR_IN_PROCESS');
  const projectorInProcess = projectorRaw === undefined ? true : boolean('PROJECTOR_IN_PROCESS');

  const contactStateCacheSize = integer('CONTACT_STATE_CACHE_SIZE', 100_000, 0, 10_000_000);

  const configuration: Configuration = {
    port,
    host,
    dataDir: resolve(text('DATA_DIR') ?? './.data'),
    databaseUrl,
    databaseOwnerUrl,
    databasePoolSize,
    allowInsecureDatabase,
    eventStoreUrl,
    masterKey,
    tlsCertFile,
    tlsKeyFile,
    trustedProxies,
    logLevel,
    projectorInProcess,
    contactStateCacheSize,
  };
  if (problems.length > 0) throw new ConfigurationError(problems);
  return configuration;
}
