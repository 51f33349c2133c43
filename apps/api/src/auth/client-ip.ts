import type { Request } from 'express';

/** The caller's address as Express resolved it (forwarded headers only from TRUSTED_PROXIES). */
export function clientIp(req: Pick<Request, 'ip' | 'socket'>): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
