import type { Server } from 'node:https';
import { RequestLogWriter } from '@beecastle/audit';
import type { Configuration } from '@beecastle/config';
import { loadMasterKey, type MasterKeyProvider } from '@beecastle/crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { jsonBodyParser, requireJsonBody } from './http/json-body';
import { serveOpenApi } from './http/openapi';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { requestIdMiddleware } from './http/request-id';
import { requestLoggingMiddleware } from './http/request-logging';
import { SECURITY_HEADERS } from './http/security-headers';
import { PinoNestLogger } from './logging/pino-nest-logger';
import { reloadCertificateOnChange } from './tls/certificate-reloader';
import { secureContextOptions, type TlsMaterial } from './tls/tls-material';

export interface CreateAppOptions {
  readonly config: Configuration;
  /** The application role's connection string (from openDatabase, or a test database). */
  readonly databaseUrl: string;
  readonly tls: TlsMaterial;
  readonly logger: Logger;
  /** How often TLS_CERT_FILE/TLS_KEY_FILE are looked at for a renewal (5 s unless a test says). */
  readonly certificateReloadIntervalMs?: number;
  /** The master key; unset: the configuration's (MASTER_KEY, or the development key file). */
  readonly masterKey?: MasterKeyProvider;
}

/**
 * The whole HTTPS application, not yet listening: main.ts and the end-to-end tests both build it
 * here, so the tests exercise exactly what runs.
 */
export async function createApp(options: CreateAppOptions): Promise<INestApplication> {
  const { config, logger } = options;
  // HTTPS only: there is no plain listener. (Nest's HttpsOptions type lists fewer options than it
  // passes on to https.createServer.)
  const httpsOptions = secureContextOptions(options.tls);
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register({
      databaseUrl: options.databaseUrl,
      databasePoolSize: config.databasePoolSize,
      contactStateCacheSize: config.contactStateCacheSize,
      masterKey: options.masterKey ?? (await loadMasterKey(config)).provider,
      logger,
    }),
    new ExpressAdapter(),
    {
      httpsOptions,
      // Parsing is set up below, in our order and with our limits.
      bodyParser: false,
      logger: new PinoNestLogger(logger.child({ component: 'nest' })),
    },
  );

  // ETags are ours to set (a contact's is its version); Express's body hashes would only mislead.
  app.set('etag', false);
  // helmet removes X-Powered-By too, but only from answers that reach it: never set it at all.
  app.disable('x-powered-by');
  // X-Forwarded-For counts only when it comes from a configured proxy; with none, never.
  app.set('trust proxy', config.trustedProxies.length > 0 ? [...config.trustedProxies] : false);

  // Order matters: the id first so that every answer carries it, then the log (which must see
  // rejected requests too), the headers, and only then the body checks.
  app.use(requestIdMiddleware);
  app.use(requestLoggingMiddleware(logger, app.get(RequestLogWriter)));
  app.useSecurityHeaders(SECURITY_HEADERS);
  app.use(requireJsonBody);
  app.use(jsonBodyParser());
  serveOpenApi(app);

  app.useGlobalFilters(new ProblemDetailsFilter(logger));

  if (options.tls.source === 'configured') {
    // The operator's certificate is renewed in place (certbot, cert-manager): serve the new one
    // to new connections without a restart.
    const server = app.getHttpServer() as Server;
    const reloader = reloadCertificateOnChange(server, {
      certFile: options.tls.certFile,
      keyFile: options.tls.keyFile,
      servedFingerprint256: options.tls.fingerprint256,
      intervalMs: options.certificateReloadIntervalMs ?? 5_000,
      logger: logger.child({ component: 'tls' }),
    });
    server.on('close', () => reloader.stop());
  }
  return app;
}
