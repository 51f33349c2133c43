import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  normaliseClientIp,
  uuidOrUndefined,
  type RequestLogEntry,
  type RequestLogSink,
} from '@beecastle/audit';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { AuthenticatedRequest } from '../auth/auth-context';

/** When a request arrived, kept beside it (not on it: nothing else should read or change it). */
interface Arrival {
  readonly at: Date;
  readonly startedMs: number;
}
const arrivals = new WeakMap<IncomingMessage, Arrival>();

function pathOf(req: IncomingMessage): string {
  const url = (req as Request).originalUrl ?? req.url ?? '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function routeOf(req: IncomingMessage): string | undefined {
  const route = (req as Request).route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? route.path : undefined;
}

/**
 * The request log record (ARCHITECTURE §6), built field by field from what the server decided:
 * headers (Authorization, cookies), query strings and bodies cannot leak into it. Who called comes
 * only from the AuthContext the guard verified; a request that never got one (public, or refused
 * before or by authentication) belongs to no organisation. For an API key the key is the actor,
 * so the record names the key and no user.
 */
export function requestLogEntry(
  req: IncomingMessage,
  res: ServerResponse,
  now: { readonly date: Date; readonly ms: number } = { date: new Date(), ms: performance.now() },
): RequestLogEntry {
  const arrival = arrivals.get(req);
  const { user: auth, signedIn } = req as IncomingMessage & AuthenticatedRequest;
  const organisationId = uuidOrUndefined(auth?.organisationId ?? signedIn?.organisationId);
  return {
    at: arrival?.at ?? now.date,
    requestId: typeof req.id === 'string' ? req.id : 'unknown',
    // Express's req.ip honours X-Forwarded-For only from the configured trusted proxies.
    clientIp: normaliseClientIp((req as Request).ip ?? req.socket?.remoteAddress),
    method: req.method ?? 'UNKNOWN',
    route: routeOf(req),
    status: res.statusCode,
    latencyMs: arrival ? Math.round((now.ms - arrival.startedMs) * 1000) / 1000 : 0,
    organisationId,
    userId: !organisationId
      ? undefined
      : auth
        ? auth.actor.type === 'user'
          ? uuidOrUndefined(auth.userId)
          : undefined
        : uuidOrUndefined(signedIn?.userId),
    apiKeyId: organisationId ? uuidOrUndefined(auth?.apiKeyId) : undefined,
  };
}

/** The stdout line's fields after the request id; absent ones omitted. */
function logFields(entry: RequestLogEntry, path: string): Record<string, unknown> {
  return {
    at: entry.at.toISOString(),
    clientIp: entry.clientIp,
    method: entry.method,
    route: entry.route,
    path,
    status: entry.status,
    latencyMs: entry.latencyMs,
    organisationId: entry.organisationId,
    userId: entry.userId,
    apiKeyId: entry.apiKeyId,
  };
}

/**
 * One record per request, rejected ones included: a JSON line on stdout and the same record handed
 * to `sink`, the database writer, which only buffers it. Written once, when the answer is finished
 * or the connection closes first; at error level for a 5xx or a failed response. The line is what
 * pino-http wrote (the request id, then the record's fields) without its per-request child loggers,
 * which serialised every request's headers only to discard them: about 4 % of the server's CPU per
 * command.
 */
export function requestLoggingMiddleware(logger: Logger, sink?: RequestLogSink): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    arrivals.set(req, { at: new Date(), startedMs: performance.now() });
    const complete = (error?: unknown): void => {
      res.removeListener('close', complete);
      res.removeListener('finish', complete);
      res.removeListener('error', complete);
      const entry = requestLogEntry(req, res);
      try {
        sink?.record(entry);
      } catch (refusal) {
        // This runs in the response's 'finish' handler: a throw here would take the process down.
        logger.error({ error: String(refusal) }, 'request log: the sink refused a record');
      }
      const fields = { requestId: req.id, ...logFields(entry, pathOf(req)) };
      if (error !== undefined || res.statusCode >= 500) logger.error(fields, 'request');
      else logger.info(fields, 'request');
    };
    res.on('close', complete);
    res.on('finish', complete);
    res.on('error', complete);
    next();
  };
}
