/**
 * Refusals of the domain, each with a stable code. The API maps codes to HTTP answers in one place;
 * nothing here knows about HTTP.
 */
export type DomainErrorCode =
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'MEMBER_EXISTS'
  | 'LAST_OWNER'
  | 'INVALID_STATE'
  /** An archived (or merged) contact takes no update, interaction or merge. */
  | 'CONTACT_ARCHIVED'
  | 'VALIDATION_FAILED';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const forbidden = (why: string) => new DomainError('FORBIDDEN', why);
