import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  normaliseClientIp,
  uuidOrUndefined,
  type RequestLogEntry,
  type RequestLogSink,
} from '@beecastle/audit';
import type { Logger } from 'pino';
import type { AuthenticatedRequest } from '../auth/auth-context';

/** What the log reads of a request: Fastify's request, after the guard (if any) has run. */
export interface LoggedRequest extends AuthenticatedRequest {
  readonly id: string;
  /** The client's address; Fastify honours X-Forwarded-For only from TRUSTED_PROXIES. */
  readonly ip: string;
  readonly method: string;
  readonly url: string;
  /** The matched route's template (`/v1/contacts/:id`); none for a 404. */
  readonly routeOptions?: { readonly url?: string };
}

/** When a request arrived. */
export interface Arrival {
  readonly at: Date;
  readonly startedMs: number;
}

function pathOf(req: LoggedRequest): string {
  const query = req.url.indexOf('?');
  return query === -1 ? req.url : req.url.slice(0, query);
}

/**
 * The request log record (ARCHITECTURE §6), built field by field from what the server decided:
 * headers (Authorization, cookies), query strings and bodies cannot leak into it. Who called comes
 * only from the AuthContext the guard verified; a request that never got one (public, or refused
 * before or by authentication) belongs to no organisation. For an API key the key is the actor,
 * so the record names the key and no user.
 */
export function requestLogEntry(
  req: LoggedRequest,
  res: Pick<ServerResponse, 'statusCode'>,
  arrival: Arrival,
  nowMs: number = performance.now(),
): RequestLogEntry {
  const { user: auth, signedIn } = req;
  const organisationId = uuidOrUndefined(auth?.organisationId ?? signedIn?.organisationId);
  return {
    at: arrival.at,
    requestId: req.id,
    clientIp: normaliseClientIp(req.ip),
    method: req.method,
    route: req.routeOptions?.url,
    status: res.statusCode,
    latencyMs: Math.round((nowMs - arrival.startedMs) * 1000) / 1000,
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
 * to `sink`, the database writer, which only buffers it. A request hook, registered right after the
 * request id's; the record is written once, when the answer is finished or the connection closes
 * first, at error level for a 5xx or a failed response. The line is what pino-http wrote (the
 * request id, then the record's fields) without its per-request child loggers, which serialised
 * every request's headers only to discard them.
 */
export function requestLoggingHook(
  logger: Logger,
  sink?: RequestLogSink,
): (req: LoggedRequest, reply: { readonly raw: ServerResponse }, done: () => void) => void {
  return (req, reply, done) => {
    const arrival: Arrival = { at: new Date(), startedMs: performance.now() };
    const res = reply.raw;
    const complete = (error?: unknown): void => {
      res.removeListener('close', complete);
      res.removeListener('finish', complete);
      res.removeListener('error', complete);
      const entry = requestLogEntry(req, res, arrival);
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
    done();
  };
}
