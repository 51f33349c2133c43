import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodeTls, { connect as connectTls, createServer, type ConnectionOptions } from 'node:tls';
import {
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
  serverCertificateNames,
  type IssuedCertificate,
  type LocalCertificateAuthority,
} from '@beecastle/runtime';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../libs/database/src/testing/test-database';
import { httpsRequest } from './support/https-request';
import { startTestApi, useTestApi, type TestApi } from './support/test-api';

/** A client that can speak TLS 1.1 (and only that), if the server lets it. */
const TLS_1_1_CLIENT = {
  minVersion: 'TLSv1.1',
  maxVersion: 'TLSv1.1',
  ciphers: 'DEFAULT@SECLEVEL=0',
} as const;

interface Handshake {
  readonly protocol?: string | null;
  readonly fingerprint256?: string;
  readonly error?: string;
}

/** One verified handshake to 127.0.0.1:port; what was negotiated, or why it failed. */
function handshake(port: number, options: ConnectionOptions): Promise<Handshake> {
  return new Promise((done) => {
    const socket = connectTls({ host: '127.0.0.1', port, ...options });
    socket.on('secureConnect', () => {
      const result = {
        protocol: socket.getProtocol(),
        fingerprint256: socket.getPeerCertificate().fingerprint256,
      };
      socket.destroy();
      done(result);
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      done({ error: error.code ?? error.message }),
    );
  });
}

/** Everything the server sends back to a plain-text HTTP request before it closes, or 3 s pass. */
function plainHttpExchange(port: number): Promise<{ bytes: Buffer; closedByServer: boolean }> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    const socket = connectTcp({ host: '127.0.0.1', port }, () =>
      socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      done({ bytes: Buffer.concat(chunks), closedByServer: false });
    }, 3_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset is the server hanging up too.
      if (error.code !== 'ECONNRESET') fail(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      done({ bytes: Buffer.concat(chunks), closedByServer: true });
    });
  });
}

async function eventually<T>(read: () => Promise<T> | T, until: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (until(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Node's own defaults, lowered to what an old deployment might still run with (NODE_OPTIONS=
 * --tls-min-v1.0 and weak ciphers allowed), so that only the API's own settings can refuse TLS 1.1.
 * The defaults are process-wide: restored after the file.
 */
function lowerNodeTlsDefaults(): void {
  // The module itself (not a namespace copy), whose defaults are writable at run time.
  const defaults = nodeTls as unknown as { DEFAULT_MIN_VERSION: string; DEFAULT_CIPHERS: string };
  const saved = {
    DEFAULT_MIN_VERSION: defaults.DEFAULT_MIN_VERSION,
    DEFAULT_CIPHERS: defaults.DEFAULT_CIPHERS,
  };
  beforeAll(() => {
    defaults.DEFAULT_MIN_VERSION = 'TLSv1';
    defaults.DEFAULT_CIPHERS = 'DEFAULT@SECLEVEL=0';
  });
  afterAll(() => {
    defaults.DEFAULT_MIN_VERSION = saved.DEFAULT_MIN_VERSION;
    defaults.DEFAULT_CIPHERS = saved.DEFAULT_CIPHERS;
  });
}

describe('TLS on the API port', () => {
  lowerNodeTlsDefaults();
  const t = useTestApi();

  it('answers a plain-text HTTP request with no HTTP at all: nothing, or a TLS alert, then hangs up', async () => {
    const { bytes, closedByServer } = await plainHttpExchange(t.api.port);
    expect(bytes.toString('latin1')).not.toContain('HTTP/');
    // Empty, or TLS records of content type 21 (alert) only.
    if (bytes.length > 0) expect(bytes[0]).toBe(0x15);
    expect(closedByServer).toBe(true);
  });

  it('refuses a TLS 1.1 handshake that Node itself would accept here', async () => {
    // The control: under the same process defaults, a bare TLS server takes this client's TLS 1.1.
    const ca = await ensureLocalCertificateAuthority(await mkdtemp(join(tmpdir(), 'beecastle-')));
    const cert = await ensureServerCertificate(ca, 'bare', serverCertificateNames());
    const bare = createServer({ cert: cert.chain, key: cert.key }, (s) => s.end());
    await new Promise<void>((done) => bare.listen(0, '127.0.0.1', done));
    try {
      const port = (bare.address() as { port: number }).port;
      expect(await handshake(port, { ...TLS_1_1_CLIENT, ca: ca.cert })).toMatchObject({
        protocol: 'TLSv1.1',
      });
    } finally {
      bare.close();
      await rm(ca.dir, { recursive: true, force: true });
    }

    expect(await handshake(t.api.port, { ...TLS_1_1_CLIENT, ca: t.api.ca })).toEqual({
      error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    });
  });

  it('negotiates TLS 1.2 and 1.3 with a certificate a client trusting only the local CA verifies', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const result = await handshake(t.api.port, {
        minVersion: version,
        maxVersion: version,
        ca: t.api.ca,
      });
      expect(result).toMatchObject({ protocol: version });
    }
    expect(await handshake(t.api.port, {})).toEqual({
      error: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
  });
});

/** `to` replaced by a copy of `from` at once, as a rename does. */
async function replaceFile(from: string, to: string): Promise<void> {
  await copyFile(from, `${to}.next`);
  await rename(`${to}.next`, to);
}

describe('an operator’s certificate (TLS_CERT_FILE, TLS_KEY_FILE)', () => {
  lowerNodeTlsDefaults();
  let db: TestDatabase;
  let dir: string;
  let ca: LocalCertificateAuthority;
  let first: IssuedCertificate;
  let api: TestApi;
  const certFile = () => join(dir, 'live', 'server.pem');
  const keyFile = () => join(dir, 'live', 'server-key.pem');

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'beecastle-operator-tls-'));
    ca = await ensureLocalCertificateAuthority(join(dir, 'live'));
    first = await ensureServerCertificate(ca, 'first', serverCertificateNames());
    await copyFile(first.certFile, certFile());
    await copyFile(first.keyFile, keyFile());
    api = await startTestApi({
      databaseUrl: db.appUrl,
      env: { TLS_CERT_FILE: certFile(), TLS_KEY_FILE: keyFile() },
      certificateReloadIntervalMs: 25,
    });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const served = async () => (await handshake(api.port, { ca: ca.cert })).fingerprint256;

  it('is reloaded when the files change, without a restart; a half-written pair is not served', async () => {
    expect(await served()).toBe(first.fingerprint256);
    const renewed = await ensureServerCertificate(ca, 'renewed', serverCertificateNames());

    // The certificate is renewed first: until its key follows, the pair does not match. Each
    // file is replaced whole (copied beside it, then renamed), so the reload never reads one
    // half-copied: that would be another warning, about a file that is not PEM.
    await replaceFile(renewed.certFile, certFile());
    const warned = await eventually(
      () => api.logs().filter((l) => l.component === 'tls' && l.level === 'warn'),
      (lines) => lines.length > 0,
    );
    expect(warned).toEqual([
      expect.objectContaining({
        msg: 'TLS certificate files changed but cannot be served; still serving the previous certificate',
        problem: expect.stringContaining('does not match the private key'),
      }),
    ]);
    expect(await served()).toBe(first.fingerprint256);

    await replaceFile(renewed.keyFile, keyFile());
    expect(await eventually(served, (f) => f === renewed.fingerprint256)).toBe(
      renewed.fingerprint256,
    );
    expect(api.logs()).toContainEqual(
      expect.objectContaining({
        component: 'tls',
        msg: 'TLS certificate reloaded',
        fingerprint256: renewed.fingerprint256,
      }),
    );
    // The reloaded context keeps the API's minimum, whatever Node's defaults say.
    expect(await handshake(api.port, { ...TLS_1_1_CLIENT, ca: ca.cert })).toEqual({
      error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    });
    // And the application still answers over it.
    const live = await httpsRequest(`${api.baseUrl}/health/live`, { ca: ca.cert });
    expect(live.status).toBe(200);
  });
});
