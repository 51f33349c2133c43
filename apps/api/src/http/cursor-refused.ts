import type { CursorRefusal } from '@beecastle/database';
import { ProblemException } from './problem.exception';

/** 400 for a `cursor` this list did not give, or gave for other filters: every list answers alike. */
export function cursorRefused(refusal: CursorRefusal): ProblemException {
  return new ProblemException(
    400,
    'VALIDATION_FAILED',
    refusal === 'malformed'
      ? 'The cursor is not one this API gave.'
      : 'The cursor belongs to another query: repeat the filters it was given with.',
    { fields: ['cursor'] },
  );
}
