import { stat } from 'node:fs/promises';
import type { Server } from 'node:tls';
import type { Logger } from 'pino';
import { loadConfiguredCertificate, secureContextOptions } from './tls-material';

export interface CertificateReloader {
  /** Looks at the files now (the timer does this every interval). Resolves once done. */
  check(): Promise<void>;
  stop(): void;
}

export interface CertificateReloaderOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** The fingerprint of the certificate the server was started with. */
  readonly servedFingerprint256: string;
  readonly intervalMs: number;
  readonly logger: Logger;
}

/** What changes when a file is rewritten, renamed over or re-linked (Kubernetes swaps symlinks). */
async function fileState(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? ''}`;
  }
}

/**
 * Serves a renewed TLS_CERT_FILE/TLS_KEY_FILE without a restart: polls both files (stat only) and,
 * when either changes, loads and checks the pair and swaps the server's secure context for new
 * connections. A pair that cannot be served (half-written, mismatched, expired) is logged and the
 * current certificate stays; the next change is looked at again. Polling rather than fs.watch: it
 * sees renames and symlink swaps the same way on every platform.
 */
export function reloadCertificateOnChange(
  server: Server,
  options: CertificateReloaderOptions,
): CertificateReloader {
  const { certFile, keyFile, logger } = options;
  let served = options.servedFingerprint256;
  let seen: Promise<string> = Promise.all([fileState(certFile), fileState(keyFile)]).then((s) =>
    s.join('|'),
  );
  let running: Promise<void> | undefined;

  const look = async (): Promise<void> => {
    const now = (await Promise.all([fileState(certFile), fileState(keyFile)])).join('|');
    if (now === (await seen)) return;
    seen = Promise.resolve(now);
    let material;
    try {
      material = await loadConfiguredCertificate(certFile, keyFile);
    } catch (error) {
      logger.warn(
        { certFile, keyFile, problem: String((error as Error).message) },
        'TLS certificate files changed but cannot be served; still serving the previous certificate',
      );
      return;
    }
    if (material.fingerprint256 === served) return;
    server.setSecureContext(secureContextOptions(material));
    served = material.fingerprint256;
    logger.info(
      { certFile, fingerprint256: served, validTo: material.validTo.toISOString() },
      'TLS certificate reloaded',
    );
  };

  // One look at a time: a slow disk must not let two overlap and apply an older pair last.
  const check = (): Promise<void> => {
    running ??= look().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void check(), options.intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
