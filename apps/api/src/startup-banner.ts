import { isIP } from 'node:net';
import type { Configuration } from '@beecastle/config';
import type { LoadedMasterKey } from '@beecastle/crypto';
import type { TlsMaterial } from './tls/tls-material';

export function serviceUrl(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** What an operator needs at a glance after `npm start`: where it listens and where things live. */
export function startupBanner(
  config: Configuration,
  tls: TlsMaterial,
  database: { readonly embedded: boolean },
  masterKey?: LoadedMasterKey,
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
    ...(masterKey ? [`  master key:       ${masterKeyLine(masterKey)}`] : []),
    `  health:           ${serviceUrl(config.host, config.port)}/health/ready`,
    '',
  ].join('\n');
}

/** Where the key that protects the data comes from; a generated one is the operator's to back up. */
function masterKeyLine(loaded: LoadedMasterKey): string {
  switch (loaded.source) {
    case 'environment':
      return `MASTER_KEY (id ${loaded.provider.keyId})`;
    case 'generated':
      return `${loaded.file} (generated now, mode 0600: back it up, or the data cannot be read; production sets MASTER_KEY)`;
    case 'reused':
      return `${loaded.file} (development key; production sets MASTER_KEY)`;
  }
}
