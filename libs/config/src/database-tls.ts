/**
 * How a PostgreSQL connection string protects its traffic. `verified-tls`: `sslmode=verify-full`,
 * so the server must present a certificate from a trusted CA (`sslrootcert`, or the system's) for
 * the host named. `local-socket`: a Unix socket (host starting with `/`), which never leaves the
 * machine. Anything else can be read or altered on the way, loopback TCP included.
 */
export type DatabaseTransport = 'verified-tls' | 'local-socket' | 'insecure';

export function databaseTransport(url: string): DatabaseTransport {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'insecure';
  }
  if (parsed.searchParams.get('sslmode') === 'verify-full') return 'verified-tls';
  // A socket directory goes in ?host=/run/postgresql or, percent-encoded, in the host position.
  const host = parsed.searchParams.get('host') ?? safeDecode(parsed.hostname);
  return host.startsWith('/') ? 'local-socket' : 'insecure';
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The line an operator reads when a database URL is refused, or undefined when it is accepted. */
export function insecureDatabaseProblem(
  variable: string,
  url: string,
  allowInsecure: boolean,
): string | undefined {
  if (allowInsecure || databaseTransport(url) !== 'insecure') return undefined;
  return `${variable} must use TLS with full verification: add sslmode=verify-full (and sslrootcert=<CA file> for a private CA), or connect through a local socket (host starting with /), or set ALLOW_INSECURE_DATABASE=true to accept the risk`;
}
