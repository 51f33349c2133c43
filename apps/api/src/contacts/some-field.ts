import { ProblemException } from '../http/problem.exception';

/** A body that names no field asks for nothing: refused, rather than answered as a no-op. */
export function requireSomeField(fields: object): void {
  if (!Object.values(fields).some((value) => value !== undefined))
    throw new ProblemException(400, 'VALIDATION_FAILED', 'The request body names no field.', {
      fields: [],
    });
}
