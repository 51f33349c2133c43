import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { ConfigurationError, type Configuration } from '@beecastle/config';
import {
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
  serverCertificateNames,
} from '@beecastle/runtime';

export interface TlsMaterial {
  readonly key: Buffer;
  /** What the server presents: the leaf first, then any chain (the local CA's certificate). */
  readonly cert: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
  /** The local CA that issued a generated certificate: what clients trust. Unset when configured. */
  readonly caFile?: string;
  readonly ca?: Buffer;
  /** `configured`: TLS_CERT_FILE/TLS_KEY_FILE; otherwise issued by the local CA under DATA_DIR. */
  readonly source: 'configured' | 'generated' | 'reused';
  readonly fingerprint256: string;
  readonly validTo: Date;
}

/**
 * TLS 1.2 is Node's default minimum too; stated so that no default (NODE_OPTIONS=--tls-min-v1.0,
 * a reloaded context) can lower it.
 */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** The options of every secure context the API serves, first and reloaded alike. */
export function secureContextOptions(
  tls: Pick<TlsMaterial, 'cert' | 'key'>,
): Pick<SecureContextOptions, 'cert' | 'key' | 'minVersion'> {
  return { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION };
}

/**
 * The certificate and key to serve: the operator's, or a server certificate issued for localhost,
 * 127.0.0.1, ::1 and HOST by the local CA under `DATA_DIR/tls` (generated once, then kept).
 */
export async function loadTlsMaterial(
  config: Configuration,
  now = new Date(),
): Promise<TlsMaterial> {
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    return loadConfiguredCertificate(config.tlsCertFile, config.tlsKeyFile, now);
  }
  const ca = await ensureLocalCertificateAuthority(join(config.dataDir, 'tls'), now);
  const issued = await ensureServerCertificate(ca, 'api', serverCertificateNames(config.host), now);
  return {
    cert: issued.chain,
    key: issued.key,
    certFile: issued.certFile,
    keyFile: issued.keyFile,
    caFile: ca.certFile,
    ca: ca.cert,
    source: issued.source,
    fingerprint256: issued.fingerprint256,
    validTo: issued.validTo,
  };
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

/**
 * The operator's certificate (the leaf first, then its chain) and key, checked: a pair that cannot
 * be served is a ConfigurationError naming the file and what is wrong.
 */
export async function loadConfiguredCertificate(
  certFile: string,
  keyFile: string,
  now = new Date(),
): Promise<TlsMaterial> {
  const cert = await readNamed('TLS_CERT_FILE', certFile);
  const key = await readNamed('TLS_KEY_FILE', keyFile);
  const problem = certificateProblem(cert, key, now);
  if (problem) {
    throw new ConfigurationError([`TLS_CERT_FILE ${JSON.stringify(certFile)} ${problem}`]);
  }
  const x509 = new X509Certificate(cert);
  return {
    cert,
    key,
    certFile,
    keyFile,
    source: 'configured',
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
  };
}
