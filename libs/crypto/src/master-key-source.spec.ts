import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '@beecastle/config';
import { masterKeyFingerprint } from './master-key';
import { developmentMasterKeyFile, loadMasterKey, masterKeyNotice } from './master-key-source';

describe('loadMasterKey', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'beecastle-master-key-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('uses MASTER_KEY when given, and writes nothing', async () => {
    const key = randomBytes(32);
    const loaded = await loadMasterKey({ masterKey: key, dataDir, databaseUrl: 'postgres://x/y' });
    expect(loaded.source).toBe('environment');
    expect(loaded.provider.keyId).toBe(masterKeyFingerprint(key));
    await expect(stat(developmentMasterKeyFile(dataDir))).rejects.toThrow(/ENOENT/);
    expect(masterKeyNotice(loaded)).toBe(`master key: MASTER_KEY (id ${loaded.provider.keyId})`);
  });

  it('refuses an external database without MASTER_KEY, saying what to do', async () => {
    const error = await loadMasterKey({ dataDir, databaseUrl: 'postgres://x/y' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).problems).toEqual([
      expect.stringMatching(
        /^MASTER_KEY is required when DATABASE_URL is set: .*openssl rand -base64 32/,
      ),
    ]);
  });

  it('generates the development key once, mode 0600, says so, and reuses it', async () => {
    const first = await loadMasterKey({ dataDir });
    expect(first.source).toBe('generated');
    const file = developmentMasterKeyFile(dataDir);
    expect(first.file).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')).toHaveLength(32);
    expect(masterKeyNotice(first)).toMatch(
      new RegExp(
        `generated a development master key at ${file} \\(mode 0600; id local:[0-9a-f]{32}\\)`,
      ),
    );

    const second = await loadMasterKey({ dataDir });
    expect(second.source).toBe('reused');
    expect(second.provider.keyId).toBe(first.provider.keyId);
  });

  it('refuses a development key file others can read, or one that is not a key', async () => {
    await loadMasterKey({ dataDir });
    const file = developmentMasterKeyFile(dataDir);
    await chmod(file, 0o644);
    await expect(loadMasterKey({ dataDir })).rejects.toThrow(/readable by other users.*chmod 600/);
    await writeFile(file, 'not a key\n', { mode: 0o600 });
    await chmod(file, 0o600);
    await expect(loadMasterKey({ dataDir })).rejects.toThrow(/does not hold 32 bytes/);
  });
});
