import { ContactValidationError, DomainError } from '@beecastle/domain';
import { ProblemException } from '../../http/problem.exception';

/**
 * One contact of an import was refused, so none was imported. `index` counts from 0 in the order
 * given; `code` and `fields` are those a single create would have answered with.
 */
export class ContactImportRefusedError extends Error {
  constructor(
    readonly index: number,
    readonly code: string,
    readonly detail: string,
    readonly fields: readonly string[],
  ) {
    super(`Contact ${index + 1} refused: ${detail}`);
    this.name = 'ContactImportRefusedError';
  }

  /** The refusal of contact `index`, from what a single create throws; anything else is no refusal. */
  static of(index: number, error: unknown): unknown {
    if (error instanceof ContactValidationError)
      return new ContactImportRefusedError(index, error.code, error.message, [error.field]);
    if (error instanceof DomainError)
      return new ContactImportRefusedError(index, error.code, error.message, []);
    if (error instanceof ProblemException && error.status < 500) {
      const { fields } = error.extensions as { fields?: unknown };
      return new ContactImportRefusedError(
        index,
        error.code,
        error.detail,
        Array.isArray(fields) ? fields.map(String) : [],
      );
    }
    return error;
  }
}

/**
 * The log failed part-way through an import: the contacts in `importedIds` were appended (whole
 * batches; with two in flight, not always the first ones), the others were not. `cause` says why.
 */
export class ContactImportInterruptedError extends Error {
  constructor(
    readonly importedIds: readonly string[],
    cause: unknown,
  ) {
    super(
      `Import interrupted after ${importedIds.length} contacts: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'ContactImportInterruptedError';
  }
}
