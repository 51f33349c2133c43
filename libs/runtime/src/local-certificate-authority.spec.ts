import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import {
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
  serverCertificateNames,
  type IssuedCertificate,
} from './local-certificate-authority';

/** Completes a verified TLS handshake to a server presenting `issued`, or says why it failed. */
async function handshake(
  issued: IssuedCertificate,
  trust: Buffer,
  target: { host: string; servername?: string },
): Promise<string> {
  const server = createServer({ cert: issued.chain, key: issued.key }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((done) => server.listen(0, target.host, done));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((done) => {
      const socket = connect({ port, host: target.host, servername: target.servername, ca: trust });
      socket.on('secureConnect', () => {
        socket.destroy();
        done('verified');
      });
      socket.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    });
  } finally {
    server.close();
  }
}

describe('the local certificate authority', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beecastle-ca-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is generated once, key owner-only, and kept on the next start', async () => {
    const tls = join(dir, 'tls');
    const first = await ensureLocalCertificateAuthority(tls);
    expect(first.source).toBe('generated');
    expect(first.certFile).toBe(join(tls, 'ca.pem'));
    expect(new X509Certificate(first.cert).ca).toBe(true);
    expect((await stat(join(tls, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(tls)).mode & 0o777).toBe(0o700);

    const second = await ensureLocalCertificateAuthority(tls);
    expect(second.source).toBe('reused');
    expect(second.cert.equals(first.cert)).toBe(true);
  });

  it('issues server certificates that a client trusting only ca.pem verifies by IP and by name', async () => {
    const ca = await ensureLocalCertificateAuthority(dir);
    const issued = await ensureServerCertificate(ca, 'api', serverCertificateNames());
    expect((await stat(issued.keyFile)).mode & 0o777).toBe(0o600);
    expect(await handshake(issued, ca.cert, { host: '127.0.0.1' })).toBe('verified');
    expect(await handshake(issued, ca.cert, { host: '127.0.0.1', servername: 'localhost' })).toBe(
      'verified',
    );
    expect(await handshake(issued, ca.cert, { host: '::1' })).toBe('verified');
  });

  it('issues nothing a client would accept for another name or under another CA', async () => {
    const ca = await ensureLocalCertificateAuthority(dir);
    const other = await ensureLocalCertificateAuthority(join(dir, 'other'));
    const issued = await ensureServerCertificate(ca, 'api', serverCertificateNames());
    expect(
      await handshake(issued, ca.cert, { host: '127.0.0.1', servername: 'db.example.com' }),
    ).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(await handshake(issued, other.cert, { host: '127.0.0.1' })).toMatch(
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/,
    );
  });

  it('reuses a server certificate while it fits, and reissues it when HOST, the CA or the date no longer do', async () => {
    const ca = await ensureLocalCertificateAuthority(dir);
    const first = await ensureServerCertificate(ca, 'api', serverCertificateNames());
    const again = await ensureServerCertificate(ca, 'api', serverCertificateNames('0.0.0.0'));
    expect(again.source).toBe('reused');
    expect(again.fingerprint256).toBe(first.fingerprint256);

    const withHost = await ensureServerCertificate(
      ca,
      'api',
      serverCertificateNames('beecastle.internal'),
    );
    expect(withHost.source).toBe('generated');
    expect(new X509Certificate(withHost.cert).subjectAltName).toContain('DNS:beecastle.internal');

    const nearExpiry = new Date(withHost.validTo.getTime() - 24 * 60 * 60 * 1000);
    const renewed = await ensureServerCertificate(
      ca,
      'api',
      serverCertificateNames('beecastle.internal'),
      nearExpiry,
    );
    expect(renewed.source).toBe('generated');

    await rm(join(dir, 'ca.pem'));
    const newCa = await ensureLocalCertificateAuthority(dir);
    expect(newCa.source).toBe('generated');
    const reissued = await ensureServerCertificate(newCa, 'api', serverCertificateNames());
    expect(reissued.source).toBe('generated');
    expect(await handshake(reissued, newCa.cert, { host: '127.0.0.1' })).toBe('verified');
  });

  it('names loopback always, HOST when it names a host, and each address once', () => {
    expect(serverCertificateNames()).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(serverCertificateNames('0.0.0.0')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(serverCertificateNames('::')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(serverCertificateNames('0:0:0:0:0:0:0:1')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(serverCertificateNames('LOCALHOST')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(serverCertificateNames('10.1.2.3')).toEqual([
      'localhost',
      '127.0.0.1',
      '::1',
      '10.1.2.3',
    ]);
  });
});
