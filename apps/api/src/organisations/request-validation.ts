import { type PipeTransform, ValidationPipe, type ValidationError } from '@nestjs/common';
import { ProblemException } from '../http/problem.exception';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Bodies of the user and API-key routes: only the declared fields, each as declared, or 400 that
 * names every field at fault (never echoing a value: a password must not come back in an answer).
 */
export const bodyValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  transform: true,
  validationError: { target: false, value: false },
  exceptionFactory: (errors: ValidationError[]) => {
    const fields = errors.map((e) => e.property);
    const reasons = errors.flatMap((e) => Object.values(e.constraints ?? {}));
    return new ProblemException(
      400,
      'VALIDATION_FAILED',
      `The request body is not valid: ${reasons.join('; ')}.`,
      { fields },
    );
  },
});

/** A path id: a UUID (any case, answered in lower case), else 400 before anything is read. */
export class ParseIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!UUID.test(value))
      throw new ProblemException(400, 'VALIDATION_FAILED', 'The id in the path is not a UUID.', {
        fields: ['id'],
      });
    return value.toLowerCase();
  }
}
