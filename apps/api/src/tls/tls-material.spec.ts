import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, loadConfiguration } from '@beecastle/config';
import {
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
  serverCertificateNames,
} from '@beecastle/runtime';
import { loadTlsMaterial } from './tls-material';

describe('TLS material', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beecastle-tls-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A certificate and key in files, as an operator would configure them. */
  async function operatorFiles(subdir: string): Promise<{ certFile: string; keyFile: string }> {
    const ca = await ensureLocalCertificateAuthority(join(dir, subdir));
    return ensureServerCertificate(ca, 'server', serverCertificateNames());
  }

  it('with no certificate configured, serves one issued by the local CA under DATA_DIR/tls for loopback and HOST', async () => {
    const tls = await loadTlsMaterial(
      loadConfiguration({ DATA_DIR: dir, HOST: 'beecastle.internal' }),
    );
    expect(tls.source).toBe('generated');
    expect(tls.caFile).toBe(join(dir, 'tls', 'ca.pem'));
    expect(tls.certFile).toBe(join(dir, 'tls', 'api-cert.pem'));
    const leaf = new X509Certificate(tls.cert);
    const ca = new X509Certificate(tls.ca!);
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    // The served chain is the leaf, then the CA.
    expect(tls.cert.toString()).toBe(`${leaf.toString()}${ca.toString()}`);
    const names = leaf.subjectAltName ?? '';
    expect(names).toContain('DNS:localhost');
    expect(names).toContain('DNS:beecastle.internal');
    expect(names).toContain('IP Address:127.0.0.1');
    expect(names).toMatch(/IP Address:(0:0:0:0:0:0:0:1|::1)/);
    expect((await stat(tls.keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'tls', 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'tls'))).mode & 0o777).toBe(0o700);
  });

  it('keeps the CA and the certificate on the next start, and reissues only the certificate when HOST changes', async () => {
    const first = await loadTlsMaterial(loadConfiguration({ DATA_DIR: dir }));
    const second = await loadTlsMaterial(loadConfiguration({ DATA_DIR: dir }));
    expect(second.source).toBe('reused');
    expect(second.fingerprint256).toBe(first.fingerprint256);

    const moved = await loadTlsMaterial(loadConfiguration({ DATA_DIR: dir, HOST: '10.0.0.7' }));
    expect(moved.source).toBe('generated');
    expect(moved.fingerprint256).not.toBe(first.fingerprint256);
    expect(moved.ca!.equals(first.ca!)).toBe(true);
    expect(new X509Certificate(moved.cert).subjectAltName).toContain('IP Address:10.0.0.7');
  });

  it('serves the operator’s certificate when TLS_CERT_FILE and TLS_KEY_FILE are set', async () => {
    const own = await operatorFiles('own');
    const tls = await loadTlsMaterial(
      loadConfiguration({ DATA_DIR: dir, TLS_CERT_FILE: own.certFile, TLS_KEY_FILE: own.keyFile }),
    );
    expect(tls.source).toBe('configured');
    expect(tls.caFile).toBeUndefined();
    expect(tls.fingerprint256).toBe(
      new X509Certificate(await readFile(own.certFile)).fingerprint256,
    );
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
    const a = await operatorFiles('a');
    const b = await operatorFiles('b');
    const error = await loadTlsMaterial(
      loadConfiguration({ DATA_DIR: dir, TLS_CERT_FILE: a.certFile, TLS_KEY_FILE: b.keyFile }),
    ).catch((e: unknown) => e);
    expect((error as ConfigurationError).problems).toEqual([
      `TLS_CERT_FILE ${JSON.stringify(a.certFile)} does not match the private key`,
    ]);
  });
});
