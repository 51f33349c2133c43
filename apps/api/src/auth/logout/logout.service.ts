import { Injectable } from '@nestjs/common';
import { SessionStore } from '@beecastle/auth';
import { ProblemException } from '../../http/problem.exception';
import type { AuthContext } from '../auth-context';

@Injectable()
export class LogoutService {
  constructor(private readonly sessions: SessionStore) {}

  /** Ends the caller's session: its refresh tokens at once, its access tokens on their next use. */
  async logout(auth: AuthContext): Promise<void> {
    if (auth.sessionId === undefined) {
      throw new ProblemException(
        400,
        'NO_SESSION',
        'An API key has no session to end: revoke the key instead.',
      );
    }
    await this.sessions.revoke(auth.organisationId, auth.sessionId, 'logout');
  }
}
