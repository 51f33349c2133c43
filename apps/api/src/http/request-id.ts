import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

declare module 'http' {
  interface IncomingMessage {
    /** The request's name, set by requestIdMiddleware before anything else runs. */
    id?: string;
  }
}

export const REQUEST_ID_HEADER = 'X-Request-Id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A caller's own correlation token (a gateway's, say): short, and nothing that could forge or
// break a log line or a header.
const SHORT_TOKEN = /^[A-Za-z0-9_-]{8,64}$/;

/** The caller's request id if it is a well-formed UUID or short token; otherwise undefined. */
export function acceptRequestId(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined; // absent, or sent twice
  const candidate = header.trim();
  if (UUID.test(candidate)) return candidate.toLowerCase();
  return SHORT_TOKEN.test(candidate) ? candidate : undefined;
}

/** The id the request-id middleware gave this request (set before anything else runs). */
export function requestIdOf(req: Request): string {
  return typeof req.id === 'string' ? req.id : 'unknown';
}

/**
 * First middleware of all: names the request and echoes the name on the response, so every
 * answer (errors and 404s included) and every log line about it can be matched up.
 */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = acceptRequestId(req.headers['x-request-id']) ?? randomUUID();
  req.id = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  next();
}
