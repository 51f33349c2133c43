import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigurationError, type Configuration } from '@beecastle/config';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly certFile: string;
  /** `configured`: TLS_CERT_FILE/TLS_KEY_FILE; otherwise our development certificate. */
  readonly source: 'configured' | 'generated' | 'reused';
  readonly fingerprint256: string;
  readonly validTo: Date;
}

export const DEVELOPMENT_CERT_NAMES = ['localhost', '127.0.0.1', '::1'] as const;
const DEVELOPMENT_VALIDITY_DAYS = 365;
// Replace a development certificate this close to expiry rather than serve one that will lapse.
const RENEW_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;

/** The certificate and key to serve: the operator's, or a self-signed one for development. */
export async function loadTlsMaterial(
  config: Configuration,
  now = new Date(),
): Promise<TlsMaterial> {
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    return loadConfiguredCertificate(config.tlsCertFile, config.tlsKeyFile, now);
  }
  return ensureDevelopmentCertificate(join(config.dataDir, 'tls'), now);
}

async function readNamed(variable: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigurationError([
      `${variable} ${JSON.stringify(file)} cannot be read (${reason})`,
    ]);
  }
}

/** Why a certificate and key cannot be served, or undefined when they can. */
function certificateProblem(cert: Buffer, key: Buffer, now: Date): string | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return 'is not a PEM or DER certificate';
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return 'does not match the private key';
  } catch {
    return 'comes with a private key that cannot be read (encrypted keys are not supported)';
  }
  if (new Date(x509.validTo).getTime() <= now.getTime()) return `expired on ${x509.validTo}`;
  return undefined;
}

async function loadConfiguredCertificate(
  certFile: string,
  keyFile: string,
  now: Date,
): Promise<TlsMaterial> {
  const cert = await readNamed('TLS_CERT_FILE', certFile);
  const key = await readNamed('TLS_KEY_FILE', keyFile);
  const problem = certificateProblem(cert, key, now);
  if (problem) {
    throw new ConfigurationError([`TLS_CERT_FILE ${JSON.stringify(certFile)} ${problem}`]);
  }
  return describe(cert, key, certFile, 'configured');
}

function describe(
  cert: Buffer,
  key: Buffer,
  certFile: string,
  source: TlsMaterial['source'],
): TlsMaterial {
  const x509 = new X509Certificate(cert);
  return {
    cert,
    key,
    certFile,
    source,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
  };
}

function coversDevelopmentNames(cert: Buffer): boolean {
  const names = new X509Certificate(cert).subjectAltName ?? '';
  return (
    names.includes('DNS:localhost') &&
    names.includes('IP Address:127.0.0.1') &&
    /IP Address:(0:0:0:0:0:0:0:1|::1)\b/.test(names)
  );
}

/**
 * A self-signed certificate for localhost, 127.0.0.1 and ::1 under `dir`, generated on first use
 * and reused afterwards (so a browser exception or a pinned fingerprint survives restarts), and
 * replaced when it is about to expire or does not match its key.
 */
export async function ensureDevelopmentCertificate(
  dir: string,
  now = new Date(),
): Promise<TlsMaterial> {
  const certFile = join(dir, 'development-cert.pem');
  const keyFile = join(dir, 'development-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    const soon = new Date(now.getTime() + RENEW_BEFORE_MS);
    if (certificateProblem(cert, key, soon) === undefined && coversDevelopmentNames(cert)) {
      return describe(cert, key, certFile, 'reused');
    }
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const notAfter = new Date(now.getTime() + DEVELOPMENT_VALIDITY_DAYS * 24 * 60 * 60 * 1000);
  const pems = await generate(
    [
      { name: 'commonName', value: 'localhost' },
      { name: 'organizationName', value: 'BeeCastle development certificate' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 60_000), // tolerate a little clock skew
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    },
  );
  // The key first and owner-only: a crash in between leaves no certificate to reuse with it.
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return describe(Buffer.from(pems.cert), Buffer.from(pems.private), certFile, 'generated');
}
