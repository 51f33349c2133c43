import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../http/problem.exception';

// A strong validator, as the ETag is written: one quoted decimal. Weak (`W/`), `*` and lists say
// nothing about one version, so they are refused rather than guessed at.
const VERSION = /^"(0|[1-9][0-9]{0,14})"$/u;

/**
 * The contact version the client last saw, from `If-Match: "<n>"`. Where it is required, a
 * request without one answers 428: a blind overwrite is never what a client meant.
 */
export const IfMatch = createParamDecorator(
  (options: { readonly required: boolean } | undefined, context: ExecutionContext) => {
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers['if-match'];
    if (header === undefined) {
      if (options?.required)
        throw new ProblemException(
          428,
          'PRECONDITION_REQUIRED',
          'This change needs If-Match with the version you read ("<version>", the ETag).',
        );
      return undefined;
    }
    const match = VERSION.exec(header.trim());
    if (!match)
      throw new ProblemException(
        400,
        'VALIDATION_FAILED',
        'If-Match is one version as the ETag gives it: a decimal in double quotes.',
        { fields: ['If-Match'] },
      );
    return Number(match[1]);
  },
);
