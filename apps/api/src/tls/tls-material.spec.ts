import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, loadConfiguration } from '@beecastle/config';
import { ensureDevelopmentCertificate, loadTlsMaterial } from './tls-material';

describe('TLS material', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beecastle-tls-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('generates a development certificate for localhost, 127.0.0.1 and ::1, key owner-only', async () => {
    const tls = await loadTlsMaterial(loadConfiguration({ DATA_DIR: dir }));
    expect(tls.source).toBe('generated');
    expect(tls.certFile).toBe(join(dir, 'tls', 'development-cert.pem'));
    const names = new X509Certificate(tls.cert).subjectAltName ?? '';
    expect(names).toContain('DNS:localhost');
    expect(names).toContain('IP Address:127.0.0.1');
    expect(names).toMatch(/IP Address:(0:0:0:0:0:0:0:1|::1)/);
    expect((await stat(join(dir, 'tls', 'development-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'tls'))).mode & 0o777).toBe(0o700);
  });

  it('reuses the certificate on the next start', async () => {
    const first = await ensureDevelopmentCertificate(dir);
    const second = await ensureDevelopmentCertificate(dir);
    expect(second.source).toBe('reused');
    expect(second.fingerprint256).toBe(first.fingerprint256);
  });

  it('replaces a certificate that is about to expire', async () => {
    const first = await ensureDevelopmentCertificate(dir);
    const nearExpiry = new Date(first.validTo.getTime() - 24 * 60 * 60 * 1000);
    const renewed = await ensureDevelopmentCertificate(dir, nearExpiry);
    expect(renewed.source).toBe('generated');
    expect(renewed.fingerprint256).not.toBe(first.fingerprint256);
  });

  it('replaces a certificate whose key was lost or swapped', async () => {
    const first = await ensureDevelopmentCertificate(dir);
    const other = await ensureDevelopmentCertificate(join(dir, 'other'));
    await writeFile(join(dir, 'development-key.pem'), other.key);
    const again = await ensureDevelopmentCertificate(dir);
    expect(again.source).toBe('generated');
    expect(again.fingerprint256).not.toBe(first.fingerprint256);
  });

  it('serves the operator’s certificate when TLS_CERT_FILE and TLS_KEY_FILE are set', async () => {
    const own = await ensureDevelopmentCertificate(join(dir, 'own'));
    const tls = await loadTlsMaterial(
      loadConfiguration({
        DATA_DIR: dir,
        TLS_CERT_FILE: join(dir, 'own', 'development-cert.pem'),
        TLS_KEY_FILE: join(dir, 'own', 'development-key.pem'),
      }),
    );
    expect(tls.source).toBe('configured');
    expect(tls.fingerprint256).toBe(own.fingerprint256);
  });

  it('names a missing certificate file in one line', async () => {
    const missing = join(dir, 'nope.pem');
    const error = await loadTlsMaterial(
      loadConfiguration({ DATA_DIR: dir, TLS_CERT_FILE: missing, TLS_KEY_FILE: missing }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).problems).toEqual([
      `TLS_CERT_FILE ${JSON.stringify(missing)} cannot be read (ENOENT)`,
    ]);
  });

  it('refuses a certificate that does not match its key', async () => {
    await ensureDevelopmentCertificate(join(dir, 'a'));
    await ensureDevelopmentCertificate(join(dir, 'b'));
    const error = await loadTlsMaterial(
      loadConfiguration({
        DATA_DIR: dir,
        TLS_CERT_FILE: join(dir, 'a', 'development-cert.pem'),
        TLS_KEY_FILE: join(dir, 'b', 'development-key.pem'),
      }),
    ).catch((e: unknown) => e);
    expect((error as ConfigurationError).problems).toEqual([
      `TLS_CERT_FILE ${JSON.stringify(join(dir, 'a', 'development-cert.pem'))} does not match the private key`,
    ]);
  });
});
