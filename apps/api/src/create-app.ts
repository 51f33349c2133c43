import type { Server } from 'node:https';
import { RequestLogWriter } from '@beecastle/audit';
import type { Configuration } from '@beecastle/config';
import { loadMasterKey, type MasterKeyProvider } from '@beecastle/crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { JSON_BODY_LIMIT_BYTES, requireJsonBody, useJsonBodyParser } from './http/json-body';
import { serveOpenApi } from './http/openapi';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { echoRequestId, requestIdFor } from './http/request-id';
import { requestLoggingHook } from './http/request-logging';
import { answerRouterErrors, type RequestHook, securityHeadersHook } from './http/router-errors';
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
export async function createApp(options: CreateAppOptions): Promise<NestFastifyApplication> {
  const { config, logger } = options;
  // The request hooks whose work every answer needs (its id, its log record, the security
  // headers): Fastify runs them for the requests it routes, answerRouterErrors for those its
  // router refuses.
  const requestHooks: RequestHook[] = [];
  const adapter: FastifyAdapter = new FastifyAdapter({
    // HTTPS only: there is no plain listener.
    https: secureContextOptions(options.tls),
    // Requests are named by us (a caller's well-formed X-Request-Id, or a fresh UUID) and logged
    // by us; Fastify's own logger stays off.
    genReqId: requestIdFor,
    requestIdHeader: false,
    logger: false,
    bodyLimit: JSON_BODY_LIMIT_BYTES,
    // A request has a minute to arrive whole (Node's default is five; Fastify turns it off), so a
    // client that trickles its headers or body cannot hold a socket and its buffers for long.
    requestTimeout: 60_000,
    // X-Forwarded-For counts only when it comes from a configured proxy; with none, never.
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    frameworkErrors: answerRouterErrors({
      requestHooks: () => requestHooks,
      mapException: (error) => adapter.mapException(error),
      logger,
    }),
    routerOptions: {
      // Ids are validated by the routes (400 naming the rule), not cut off by the router (414).
      maxParamLength: 1_000,
      // `/v1/contacts/` is `/v1/contacts`.
      ignoreTrailingSlash: true,
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register({
      databaseUrl: options.databaseUrl,
      databasePoolSize: config.databasePoolSize,
      contactStateCacheSize: config.contactStateCacheSize,
      masterKey: options.masterKey ?? (await loadMasterKey(config)).provider,
      logger,
    }),
    adapter,
    {
      // Parsing is set up below, JSON only and with our limits.
      bodyParser: false,
      logger: new PinoNestLogger(logger.child({ component: 'nest' })),
    },
  );
  const fastify = app.getHttpAdapter().getInstance();

  // Order matters: the id first so that every answer carries it, then the log (which must see
  // rejected requests too); the security headers are Nest's own request hook, which runs before
  // these. Then the body checks, before routing and authentication; the parser is the only one.
  const logRequest = requestLoggingHook(logger, app.get(RequestLogWriter));
  fastify.addHook('onRequest', echoRequestId);
  fastify.addHook('onRequest', logRequest);
  app.useSecurityHeaders(SECURITY_HEADERS);
  requestHooks.push(echoRequestId, logRequest, securityHeadersHook(adapter));
  fastify.addHook('onRequest', requireJsonBody);
  useJsonBodyParser(fastify);
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
