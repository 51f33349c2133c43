import { Injectable, Logger } from '@nestjs/common';
import { SessionStore, signAccessToken, SigningKeyStore } from '@beecastle/auth';
import type { SignedIn } from '../auth-context';
import type { TokenResponse } from '../token-response';
import { unauthorised } from '../unauthorised';

/** A new pair for a refresh token, which is spent; a spent one ends its session (see SessionStore). */
@Injectable()
export class RefreshService {
  private readonly logger = new Logger('Refresh');

  constructor(
    private readonly sessions: SessionStore,
    private readonly keys: SigningKeyStore,
  ) {}

  async refresh(refreshToken: string): Promise<TokenResponse & { signedIn: SignedIn }> {
    const outcome = await this.sessions.refresh(refreshToken);
    if (outcome.kind === 'reused') {
      this.logger.warn(
        `refresh token reused: session ${outcome.sessionId} of organisation ${outcome.organisationId} revoked`,
      );
    }
    if (outcome.kind !== 'rotated') throw unauthorised();
    const { accessToken, expiresIn } = signAccessToken(this.keys.signingKey(), outcome);
    return {
      accessToken,
      refreshToken: outcome.refreshToken,
      tokenType: 'Bearer',
      expiresIn,
      signedIn: { organisationId: outcome.organisationId, userId: outcome.userId },
    };
  }
}
