import type { FastifyRequest } from 'fastify';

/** The caller's address as Fastify resolved it (forwarded headers only from TRUSTED_PROXIES). */
export function clientIp(req: Pick<FastifyRequest, 'ip'>): string {
  return req.ip || 'unknown';
}
