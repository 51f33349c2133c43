import type { ServerOptions } from 'node:https';
import { RequestLogWriter } from '@beecastle/audit';
import type { Configuration } from '@beecastle/config';
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
import type { TlsMaterial } from './tls/tls-material';

export interface CreateAppOptions {
  readonly config: Configuration;
  /** The application role's connection string (from openDatabase, or a test database). */
  readonly databaseUrl: string;
  readonly tls: Pick<TlsMaterial, 'cert' | 'key'>;
  readonly logger: Logger;
}

/**
 * The whole HTTPS application, not yet listening: main.ts and the end-to-end tests both build it
 * here, so the tests exercise exactly what runs.
 */
export async function createApp(options: CreateAppOptions): Promise<INestApplication> {
  const { config, logger } = options;
  // Node's default minimum is already TLS 1.2; stated so that no default can lower it. (Nest's
  // HttpsOptions type lists fewer options than it passes on to https.createServer.)
  const httpsOptions: Pick<ServerOptions, 'cert' | 'key' | 'minVersion'> = {
    cert: options.tls.cert,
    key: options.tls.key,
    minVersion: 'TLSv1.2',
  };
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register({
      databaseUrl: options.databaseUrl,
      databasePoolSize: config.databasePoolSize,
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
  return app;
}
