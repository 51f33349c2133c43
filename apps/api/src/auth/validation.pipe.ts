import { ValidationPipe } from '@nestjs/common';
import { ProblemException } from '../http/problem.exception';

/**
 * Request bodies of the auth routes: only the declared fields, each as declared, or 400 naming
 * what is wrong (never echoing a value: a misplaced password must not come back in an answer).
 */
export const authBodyValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
  exceptionFactory: (errors) =>
    new ProblemException(
      400,
      'VALIDATION_FAILED',
      `The request body is not valid: ${errors
        .map((e) =>
          Object.values(e.constraints ?? { [e.property]: `${e.property} is not allowed` }),
        )
        .flat()
        .join('; ')}.`,
    ),
});
