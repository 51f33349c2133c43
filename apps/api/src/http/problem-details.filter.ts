import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { KeyUnavailableError } from '@beecastle/crypto';
import { PayloadDecryptionError } from '@beecastle/event-store';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, toProblemDetails } from './problem-details';
import { requestIdOf } from './request-id';

/**
 * Answers `exception` as problem details: the one way every refusal and fault leaves, whether it
 * came through Nest (the filter below) or from Fastify's router (router-errors.ts).
 */
export function answerWithProblem(
  exception: unknown,
  req: Pick<FastifyRequest, 'id'>,
  reply: FastifyReply,
  logger: Logger,
): void {
  const requestId = requestIdOf(req);
  const { problem, headers, isServerFault } = toProblemDetails(exception, requestId);
  if (exception instanceof PayloadDecryptionError || exception instanceof KeyUnavailableError) {
    // The client gets the same bare 500 as for any fault; operators get a line to alert on.
    // It names the event and key, never a payload.
    logger.error(
      { requestId, security: 'payload_decryption_failed', err: exception },
      'SECURITY: an event payload or key did not decrypt (altered, moved, or a key missing)',
    );
  } else if (isServerFault) {
    logger.error({ requestId, err: exception }, 'unhandled error');
  }
  if (reply.sent || reply.raw.headersSent) {
    // Too late for a status: cut the connection so the client cannot mistake a partial body
    // for a whole one.
    reply.raw.destroy();
    return;
  }
  void reply
    .code(problem.status)
    .headers(headers)
    .type(`${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
    .send(JSON.stringify(problem));
}

/**
 * The only exception filter: everything thrown by a handler, a guard, a request hook or the
 * body parser, and every unknown route, ends here and leaves as problem details.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    answerWithProblem(
      exception,
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
      this.logger,
    );
  }
}
