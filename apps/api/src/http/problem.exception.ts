/**
 * An error the API answers on purpose, with a stable code and a detail that is safe to show.
 * Anything else that escapes a handler is a bug and answers a bare 500.
 */
export class ProblemException extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    /** Extra members of the problem document (RFC 9457 extensions). */
    readonly extensions: Readonly<Record<string, unknown>> = {},
    /** Response headers that belong to the answer (`WWW-Authenticate`, `Retry-After`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'ProblemException';
  }
}
