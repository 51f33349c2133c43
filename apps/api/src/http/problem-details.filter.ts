import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { KeyUnavailableError } from '@beecastle/crypto';
import { PayloadDecryptionError } from '@beecastle/event-store';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, toProblemDetails } from './problem-details';
import { requestIdOf } from './request-id';

/**
 * The only exception filter: everything thrown by a handler, a guard, a middleware or the body
 * parser, and every unknown route, ends here and leaves as problem details.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const requestId = requestIdOf(req);
    const { problem, headers, isServerFault } = toProblemDetails(exception, requestId);
    if (exception instanceof PayloadDecryptionError || exception instanceof KeyUnavailableError) {
      // The client gets the same bare 500 as for any fault; operators get a line to alert on.
      // It names the event and key, never a payload.
      this.logger.error(
        { requestId, security: 'payload_decryption_failed', err: exception },
        'SECURITY: an event payload or key did not decrypt (altered, moved, or a key missing)',
      );
    } else if (isServerFault) {
      this.logger.error({ requestId, err: exception }, 'unhandled error');
    }
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client cannot mistake a partial body
      // for a whole one.
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }
}
