import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { requestIdOf } from '../http/request-id';

/** Where a request came from, for the events it causes: its id and the client's address. */
export interface RequestOrigin {
  readonly requestId: string;
  readonly clientIp?: string;
}

export const CurrentRequestOrigin = createParamDecorator(
  (_data: unknown, context: ExecutionContext): RequestOrigin => {
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    // Fastify resolves req.ip from forwarded headers only for TRUSTED_PROXIES (trustProxy).
    return { requestId: requestIdOf(req), clientIp: req.ip };
  },
);
