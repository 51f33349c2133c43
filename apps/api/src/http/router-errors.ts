import type { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { answerWithProblem } from './problem-details.filter';

/** A request hook as Fastify calls it. */
export type RequestHook = (
  request: FastifyRequest,
  reply: FastifyReply,
  done: (error?: Error) => void,
) => void;

/**
 * Nest's request hook for the security headers (`app.useSecurityHeaders`), for the answers no hook
 * reaches. Nest's adapter runs it for the router's errors too, before answering them in Fastify's
 * own format; ours answers them as every other refusal, so it runs the hook itself. The hook is
 * the adapter's own field, not public API: should a Nest release rename it, the router-refusal
 * tests of http-conventions.e2e-spec fail on the missing headers.
 */
export function securityHeadersHook(adapter: FastifyAdapter): RequestHook {
  return (request, reply, done) => {
    const hook = (adapter as unknown as { securityHook?: (req: unknown, res: unknown) => unknown })
      .securityHook;
    hook?.(request, reply.raw);
    done();
  };
}

/**
 * Fastify's `frameworkErrors`. Its router refuses a few requests before any request hook runs: a
 * path that is not valid percent-encoded UTF-8 (400), a path parameter over the limit (414). These
 * get what every other refusal gets: the request hooks' work (the request id, the log record, the
 * security headers), then problem details with a fixed detail, never Fastify's message, which
 * quotes the path.
 */
export function answerRouterErrors(parts: {
  /** The request hooks every routed request passes, in order; read when a request is refused. */
  readonly requestHooks: () => readonly RequestHook[];
  readonly mapException: (error: Error) => unknown;
  readonly logger: Logger;
}): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (error, request, reply) => {
    for (const hook of parts.requestHooks()) hook(request, reply, () => undefined);
    answerWithProblem(parts.mapException(error), request, reply, parts.logger);
  };
}
