import type { FastifyRequest } from 'fastify';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** The credential of `Authorization: Bearer <credential>` (RFC 6750 token68), if that is what was sent. */
export function bearerCredential(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || header.length > 4096) return undefined;
  return BEARER.exec(header)?.[1];
}
