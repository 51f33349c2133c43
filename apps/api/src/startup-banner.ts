import { isIP } from 'node:net';
import type { Configuration } from '@beecastle/config';
import type { TlsMaterial } from './tls/tls-material';

export function serviceUrl(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** What an operator needs at a glance after `npm start`: where it listens and where things live. */
export function startupBanner(
  config: Configuration,
  tls: TlsMaterial,
  database: { readonly embedded: boolean },
): string {
  const certificate =
    tls.source === 'configured'
      ? `${tls.certFile} (reloaded when it changes)`
      : `${tls.certFile} (issued by the local CA; ${tls.source}; SHA-256 ${tls.fingerprint256})`;
  return [
    `BeeCastle API listening on ${serviceUrl(config.host, config.port)}`,
    `  data directory:   ${config.dataDir}`,
    `  TLS certificate:  ${certificate}`,
    // Clients trust this file (curl --cacert, NODE_EXTRA_CA_CERTS, sslrootcert) rather than
    // skipping verification.
    ...(tls.caFile ? [`  trust this CA:    ${tls.caFile}`] : []),
    `  database:         ${database.embedded ? 'embedded PostgreSQL (under the data directory; TLS, verify-full)' : 'DATABASE_URL'}`,
    `  health:           ${serviceUrl(config.host, config.port)}/health/ready`,
    '',
  ].join('\n');
}
