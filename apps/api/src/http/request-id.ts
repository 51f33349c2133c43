import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

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

/**
 * Fastify's `genReqId`: names each request before anything else runs, with the caller's id when
 * it is well formed and a fresh UUID otherwise. Fastify keeps it as `request.id`.
 */
export function requestIdFor(req: IncomingMessage): string {
  return acceptRequestId(req.headers['x-request-id']) ?? randomUUID();
}

/** The id this request was given (`request.id`), for problem documents and log lines. */
export function requestIdOf(req: { readonly id?: unknown }): string {
  return typeof req.id === 'string' ? req.id : 'unknown';
}

/**
 * The first request hook of all: echoes the name on the response, so every answer (errors and
 * 404s included) and every log line about it can be matched up. Set on the Node response, whose
 * headers Fastify merges into every answer it sends, whichever path sends it.
 */
export function echoRequestId(
  request: { readonly id: string },
  reply: { readonly raw: ServerResponse },
  done: () => void,
): void {
  reply.raw.setHeader(REQUEST_ID_HEADER, request.id);
  done();
}
