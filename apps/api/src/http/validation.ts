import { type PipeTransform, ValidationPipe, type ValidationError } from '@nestjs/common';
import { ProblemException } from './problem.exception';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Only the declared fields, each as declared, or 400 VALIDATION_FAILED naming every field at
 * fault. Values are never echoed: a password in the wrong field must not come back in an answer.
 */
function strictValidation(what: 'request body' | 'query', transform: boolean): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform,
    validationError: { target: false, value: false },
    exceptionFactory: (errors: ValidationError[]) => {
      const fields = errors.map((e) => e.property);
      const reasons = errors.flatMap((e) =>
        Object.values(e.constraints ?? { [e.property]: `${e.property} is not valid` }),
      );
      return new ProblemException(
        400,
        'VALIDATION_FAILED',
        `The ${what} is not valid: ${reasons.join('; ')}.`,
        { fields },
      );
    },
  });
}

/** JSON bodies, turned into their DTO classes. */
export const bodyValidation = strictValidation('request body', true);

/** Query strings, kept as strings for the DTO's own parsing. */
export const queryValidation = strictValidation('query', false);

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
