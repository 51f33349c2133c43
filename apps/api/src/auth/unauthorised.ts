import { ProblemException } from '../http/problem.exception';

/**
 * The one answer to every credential that does not authenticate: missing, malformed, expired,
 * revoked, tampered, unknown, or a wrong password. Saying which would help only an attacker.
 */
export function unauthorised(): ProblemException {
  return new ProblemException(
    401,
    'UNAUTHORIZED',
    'Authentication failed or is missing: send a valid access token or API key as a Bearer credential.',
    {},
    { 'WWW-Authenticate': 'Bearer' },
  );
}
