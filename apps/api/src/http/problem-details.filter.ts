import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
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
    if (isServerFault) {
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
