import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * The embedded default's own certificate authority, under `DATA_DIR/tls`: generated once and kept,
 * so a client that trusts `ca.pem` keeps trusting every certificate it issues (the API's, the
 * embedded PostgreSQL's) across restarts, renewals and changes of HOST.
 */
export interface LocalCertificateAuthority {
  readonly dir: string;
  /** What clients trust: `DATA_DIR/tls/ca.pem`. */
  readonly certFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly source: 'generated' | 'reused';
}

/** A server certificate issued by the local CA, as files and as bytes. */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** The leaf alone. */
  readonly cert: Buffer;
  /** The leaf followed by the CA's certificate: what a server presents. */
  readonly chain: Buffer;
  readonly key: Buffer;
  readonly source: 'generated' | 'reused';
  readonly fingerprint256: string;
  readonly validTo: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** PEM text ending in a newline, so that files and chains concatenate cleanly. */
const pem = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
const CA_VALIDITY_DAYS = 10 * 365;
const SERVER_VALIDITY_DAYS = 365;
// Replace a certificate this close to expiry rather than serve one that will lapse.
const RENEW_CA_BEFORE_MS = 90 * DAY_MS;
const RENEW_SERVER_BEFORE_MS = 7 * DAY_MS;
// Tolerate a little clock skew between this machine and its clients.
const BACKDATE_MS = 60_000;

/** The names every local server certificate covers, whatever else it is asked for. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/**
 * Writes through a temporary file and a rename, so a reader (another process starting at the same
 * moment) sees the old file or the new one, never half of one.
 */
async function writeAtomically(file: string, data: string | Buffer, mode: number): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, data, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

async function readPair(
  certFile: string,
  keyFile: string,
): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { cert, key };
}

function parses(cert: Buffer, key: Buffer): X509Certificate | undefined {
  try {
    const x509 = new X509Certificate(cert);
    return x509.checkPrivateKey(createPrivateKey(key)) ? x509 : undefined;
  } catch {
    return undefined;
  }
}

function lastsUntil(x509: X509Certificate, instant: Date): boolean {
  return new Date(x509.validTo).getTime() > instant.getTime();
}

/** The CA under `dir`, generated on first use and reused afterwards; renewed well before expiry. */
export async function ensureLocalCertificateAuthority(
  dir: string,
  now = new Date(),
): Promise<LocalCertificateAuthority> {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  const existing = await readPair(certFile, keyFile);
  if (existing) {
    const x509 = parses(existing.cert, existing.key);
    if (x509?.ca && lastsUntil(x509, new Date(now.getTime() + RENEW_CA_BEFORE_MS))) {
      return { dir, certFile, cert: existing.cert, key: existing.key, source: 'reused' };
    }
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const pems = await generate(
    [
      { name: 'commonName', value: `BeeCastle local CA ${randomBytes(4).toString('hex')}` },
      { name: 'organizationName', value: 'BeeCastle (generated under DATA_DIR)' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - BACKDATE_MS),
      notAfterDate: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
      extensions: [
        // It signs server certificates only, never another CA.
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    },
  );
  // The key first and owner-only: a crash in between leaves no certificate without its key.
  const [cert, key] = [Buffer.from(pem(pems.cert)), Buffer.from(pem(pems.private))];
  await writeAtomically(keyFile, key, 0o600);
  await writeAtomically(certFile, cert, 0o644);
  return { dir, certFile, cert, key, source: 'generated' };
}

function subjectAltNames(x509: X509Certificate): Set<string> {
  const names = new Set<string>();
  for (const entry of (x509.subjectAltName ?? '').split(', ')) {
    const [kind, value] = entry.split(/:(.*)/s);
    if (kind === 'DNS') names.add(value.toLowerCase());
    if (kind === 'IP Address') names.add(canonicalIp(value));
  }
  return names;
}

/** `::1` and `0:0:0:0:0:0:0:1` are one address: compare IPs in one spelling. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]`).hostname.replace(/^\[|\]$/g, '');
}

function nameKey(name: string): string {
  return isIP(name) === 0 ? name.toLowerCase() : canonicalIp(name);
}

/**
 * The names a server certificate must cover: loopback always, plus the host it is reached by.
 * A wildcard listen address (0.0.0.0, ::) names no host, so it adds nothing.
 */
export function serverCertificateNames(host?: string): string[] {
  const names = [...LOOPBACK_NAMES];
  if (host !== undefined && host !== '0.0.0.0' && host !== '::') names.push(host);
  return [...new Set(names.map(nameKey))];
}

function issuedBy(x509: X509Certificate, ca: LocalCertificateAuthority): boolean {
  const caX509 = new X509Certificate(ca.cert);
  return x509.checkIssued(caX509) && x509.verify(caX509.publicKey);
}

function describeIssued(
  certFile: string,
  keyFile: string,
  cert: Buffer,
  key: Buffer,
  ca: LocalCertificateAuthority,
  source: IssuedCertificate['source'],
): IssuedCertificate {
  const x509 = new X509Certificate(cert);
  return {
    certFile,
    keyFile,
    cert,
    chain: Buffer.concat([cert, ca.cert]),
    key,
    source,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
  };
}

/**
 * A server certificate `<name>-cert.pem` / `<name>-key.pem` in the CA's directory for `names`,
 * reused while it still covers them, matches its key, comes from this CA and is not about to
 * expire; otherwise issued afresh.
 */
export async function ensureServerCertificate(
  ca: LocalCertificateAuthority,
  name: string,
  names: readonly string[],
  now = new Date(),
): Promise<IssuedCertificate> {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`Unusual certificate name ${name}`);
  const certFile = join(ca.dir, `${name}-cert.pem`);
  const keyFile = join(ca.dir, `${name}-key.pem`);
  const wanted = names.map(nameKey);
  const existing = await readPair(certFile, keyFile);
  if (existing) {
    const x509 = parses(existing.cert, existing.key);
    if (
      x509 !== undefined &&
      lastsUntil(x509, new Date(now.getTime() + RENEW_SERVER_BEFORE_MS)) &&
      issuedBy(x509, ca) &&
      wanted.every((n) => subjectAltNames(x509).has(n))
    ) {
      return describeIssued(certFile, keyFile, existing.cert, existing.key, ca, 'reused');
    }
  }

  const pems = await generate(
    [
      { name: 'commonName', value: wanted[0] ?? 'localhost' },
      { name: 'organizationName', value: `BeeCastle ${name}` },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - BACKDATE_MS),
      notAfterDate: new Date(now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS),
      ca: { key: ca.key.toString(), cert: ca.cert.toString() },
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: wanted.map((n) =>
            isIP(n) === 0 ? ({ type: 2, value: n } as const) : ({ type: 7, ip: n } as const),
          ),
        },
      ],
    },
  );
  const [cert, key] = [Buffer.from(pem(pems.cert)), Buffer.from(pem(pems.private))];
  await writeAtomically(keyFile, key, 0o600);
  await writeAtomically(certFile, cert, 0o644);
  return describeIssued(certFile, keyFile, cert, key, ca, 'generated');
}
