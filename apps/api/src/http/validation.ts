import {
  type ArgumentMetadata,
  type PipeTransform,
  ValidationPipe,
  type ValidationError,
  type ValidationPipeOptions,
} from '@nestjs/common';
import { ProblemException } from './problem.exception';
import { RefusePrototypeKeysPipe } from './prototype-keys.pipe';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Each failed field by its path (`emails[2].address`), with what is wrong with it. */
function failures(
  errors: readonly ValidationError[],
  parent = '',
): { readonly field: string; readonly reasons: string[] }[] {
  return errors.flatMap((error) => {
    const field = !parent
      ? error.property
      : /^\d+$/.test(error.property)
        ? `${parent}[${error.property}]`
        : `${parent}.${error.property}`;
    const own = error.constraints ? [{ field, reasons: Object.values(error.constraints) }] : [];
    const nested = failures(error.children ?? [], field);
    return own.length === 0 && nested.length === 0
      ? [{ field, reasons: [`${field} is not valid`] }]
      : [...own, ...nested];
  });
}

/**
 * Only the declared fields, each as declared, or 400 VALIDATION_FAILED naming every field at
 * fault, nested ones by their path. Values are never echoed: a password in the wrong field must
 * not come back in an answer.
 */
function strictOptions(what: 'request body' | 'query', transform: boolean): ValidationPipeOptions {
  return {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform,
    validationError: { target: false, value: false },
    exceptionFactory: (errors: ValidationError[]) => {
      const failed = failures(errors);
      return new ProblemException(
        400,
        'VALIDATION_FAILED',
        `The ${what} is not valid: ${failed.flatMap((f) => f.reasons).join('; ')}.`,
        { fields: failed.map((f) => f.field) },
      );
    },
  };
}

/**
 * Bodies are also refused when they use a prototype's name as a key, which class-transformer
 * would otherwise drop silently before the whitelist could see it.
 */
class StrictBodyValidation extends ValidationPipe {
  private readonly prototypeKeys = new RefusePrototypeKeysPipe();

  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    return super.transform(this.prototypeKeys.transform(value), metadata);
  }
}

/** JSON bodies, turned into their DTO classes. */
export const bodyValidation = new StrictBodyValidation(strictOptions('request body', true));

/** Query strings, kept as strings for the DTO's own parsing. */
export const queryValidation = new ValidationPipe(strictOptions('query', false));

/** A path id: a UUID (any case, answered in lower case), else 400 naming the parameter. */
export class ParseIdPipe implements PipeTransform<string, string> {
  transform(value: string, metadata?: ArgumentMetadata): string {
    const field = metadata?.data ?? 'id';
    if (!UUID.test(value))
      throw new ProblemException(
        400,
        'VALIDATION_FAILED',
        `The ${field} in the path is not a UUID.`,
        {
          fields: [field],
        },
      );
    return value.toLowerCase();
  }
}
