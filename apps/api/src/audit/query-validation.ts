import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ProblemException } from '../http/problem.exception';

/**
 * Query strings of the audit routes: only the declared parameters, each once and as declared, or
 * 400 naming every parameter at fault (never echoing a value).
 */
export const queryValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
  exceptionFactory: (errors: ValidationError[]) => {
    const fields = errors.map((e) => e.property);
    const reasons = errors.flatMap((e) => Object.values(e.constraints ?? {}));
    return new ProblemException(
      400,
      'VALIDATION_FAILED',
      `The query is not valid: ${reasons.join('; ')}.`,
      { fields },
    );
  },
});
