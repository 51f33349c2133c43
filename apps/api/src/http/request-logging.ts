import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';

/**
 * The request log record (ARCHITECTURE §6): one line per request, rejected ones included. It is
 * built field by field, so headers (Authorization, cookies), query strings and bodies cannot leak
 * into it. User, organisation and API key join it once authentication exists.
 */
export interface RequestLogRecord {
  readonly clientIp: string | undefined;
  readonly method: string | undefined;
  /** The matched route template (`/v1/contacts/:id`); absent when no route matched. */
  readonly route: string | undefined;
  readonly path: string;
  readonly status: number;
  readonly latencyMs: number;
}

function pathOf(req: IncomingMessage): string {
  const url = (req as Request).originalUrl ?? req.url ?? '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function routeOf(req: IncomingMessage): string | undefined {
  const route = (req as Request).route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? route.path : undefined;
}

export function requestLogRecord(
  req: IncomingMessage,
  res: ServerResponse,
  latencyMs: number,
): RequestLogRecord {
  return {
    // Express's req.ip honours X-Forwarded-For only from the configured trusted proxies.
    clientIp: (req as Request).ip ?? req.socket?.remoteAddress,
    method: req.method,
    route: routeOf(req),
    path: pathOf(req),
    status: res.statusCode,
    latencyMs,
  };
}

export function requestLoggingMiddleware(logger: Logger): RequestHandler {
  const handler = pinoHttp({
    logger,
    // The request-id middleware ran first; this is only a fallback.
    genReqId: (req) => req.id,
    customAttributeKeys: { reqId: 'requestId', responseTime: 'latencyMs' },
    // Bind only the request id to req.log: never the raw request with its headers.
    quietReqLogger: true,
    quietResLogger: true,
    customLogLevel: (_req, res, err) =>
      err !== undefined || res.statusCode >= 500 ? 'error' : 'info',
    customSuccessObject: (req, res, val: { latencyMs: number }) =>
      requestLogRecord(req, res, val.latencyMs),
    customErrorObject: (req, res, _err, val: { latencyMs: number }) =>
      requestLogRecord(req, res, val.latencyMs),
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request',
  });
  return handler;
}
