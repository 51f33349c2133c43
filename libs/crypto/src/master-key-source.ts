import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigurationError, type Configuration } from '@beecastle/config';
import { KEY_BYTES } from './aes-gcm';
import { LocalMasterKeyProvider, type MasterKeyProvider } from './master-key';

/** The development master key's file under DATA_DIR. */
export function developmentMasterKeyFile(dataDir: string): string {
  return join(dataDir, 'keys', 'master.key');
}

export interface LoadedMasterKey {
  readonly provider: MasterKeyProvider;
  /** `environment`: MASTER_KEY; otherwise the development key file, made now or found. */
  readonly source: 'environment' | 'generated' | 'reused';
  readonly file?: string;
}

/**
 * The master key the configuration names: MASTER_KEY, or (with the embedded database only) the
 * development key file under DATA_DIR, generated on first use with mode 0600. An external
 * database without MASTER_KEY is refused: a key file beside the data it protects is a development
 * convenience, not a production custody.
 */
export async function loadMasterKey(
  config: Pick<Configuration, 'masterKey' | 'databaseUrl' | 'dataDir'>,
): Promise<LoadedMasterKey> {
  if (config.masterKey !== undefined) {
    return {
      provider: new LocalMasterKeyProvider(config.masterKey, 'MASTER_KEY'),
      source: 'environment',
    };
  }
  if (config.databaseUrl !== undefined) {
    throw new ConfigurationError([
      'MASTER_KEY is required when DATABASE_URL is set: base64 of 32 random bytes (`openssl rand -base64 32`), kept in your secret store and backed up apart from the database (the development key file is only for the embedded database)',
    ]);
  }
  const file = developmentMasterKeyFile(config.dataDir);
  const existing = await readKeyFile(file);
  if (existing) {
    return {
      provider: new LocalMasterKeyProvider(existing, `development key file ${file}`),
      source: 'reused',
      file,
    };
  }
  const key = randomBytes(KEY_BYTES);
  await mkdir(join(config.dataDir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite a key another process has just written; read that one instead.
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(`${key.toString('base64')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const written = await readKeyFile(file);
    if (!written) throw error;
    return {
      provider: new LocalMasterKeyProvider(written, `development key file ${file}`),
      source: 'reused',
      file,
    };
  }
  await chmod(file, 0o600); // whatever the umask did
  return {
    provider: new LocalMasterKeyProvider(key, `development key file ${file}`),
    source: 'generated',
    file,
  };
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new ConfigurationError([
      `The development master key file ${file} does not hold 32 bytes in base64: restore it from a backup (without it the data cannot be read)`,
    ]);
  }
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) {
    throw new ConfigurationError([
      `The development master key file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    ]);
  }
  return key;
}

/** The start-up line that says where the master key comes from (never the key). */
export function masterKeyNotice(loaded: LoadedMasterKey): string {
  switch (loaded.source) {
    case 'environment':
      return `master key: MASTER_KEY (id ${loaded.provider.keyId})`;
    case 'generated':
      return `master key: generated a development master key at ${loaded.file} (mode 0600; id ${loaded.provider.keyId}). Back it up with the data directory; without it the data cannot be read. Production sets MASTER_KEY.`;
    case 'reused':
      return `master key: development key file ${loaded.file} (id ${loaded.provider.keyId})`;
  }
}
