import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  decoyHash,
  findUserCredentials,
  hashPassword,
  listActiveMemberships,
  LoginThrottle,
  needsRehash,
  normaliseEmail,
  replacePasswordHash,
  SessionStore,
  signAccessToken,
  SigningKeyStore,
  verifyPassword,
  type ActiveMembership,
} from '@beecastle/auth';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { ProblemException } from '../../http/problem.exception';
import type { SignedIn } from '../auth-context';
import type { TokenResponse } from '../token-response';
import { unauthorised } from '../unauthorised';
import type { LoginDto } from './login.dto';

/**
 * Sign-in. Every failure before the organisation is settled (unknown email, wrong password, an
 * organisation the user is not an active member of) answers the same 401 after the same work: an
 * unknown email is checked against a decoy hash, and counts against the throttle like any other.
 */
@Injectable()
export class LoginService {
  private readonly logger = new Logger('Login');

  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    private readonly throttle: LoginThrottle,
    private readonly sessions: SessionStore,
    private readonly keys: SigningKeyStore,
  ) {}

  async login(body: LoginDto, clientIp: string): Promise<TokenResponse & { signedIn: SignedIn }> {
    const email = normaliseEmail(body.email);
    const throttled = await this.throttle.check(email, clientIp);
    if (throttled) {
      throw new ProblemException(
        429,
        'TOO_MANY_REQUESTS',
        'Too many failed sign-ins: wait before trying again.',
        {},
        { 'Retry-After': String(throttled.retryAfterSeconds) },
      );
    }

    const user = await findUserCredentials(this.pool, email);
    const passwordOk = await verifyPassword(
      body.password,
      user?.passwordHash ?? (await decoyHash()),
    );
    const membership =
      user && passwordOk
        ? this.choose(await listActiveMemberships(this.pool, user.userId), body)
        : undefined;
    if (!user || !membership) {
      await this.throttle.recordFailure(email, clientIp);
      throw unauthorised();
    }

    await this.throttle.recordSuccess(email);
    if (needsRehash(user.passwordHash)) await this.rehash(user.userId, body.password);
    const session = await this.sessions.start(membership.organisationId, user.userId);
    const { accessToken, expiresIn } = signAccessToken(this.keys.signingKey(), {
      userId: user.userId,
      organisationId: membership.organisationId,
      sessionId: session.sessionId,
    });
    return {
      accessToken,
      refreshToken: session.refreshToken,
      tokenType: 'Bearer',
      expiresIn,
      signedIn: { organisationId: membership.organisationId, userId: user.userId },
    };
  }

  /** The membership to sign in to, undefined to refuse, or 400 when the user must choose. */
  private choose(
    memberships: readonly ActiveMembership[],
    body: LoginDto,
  ): ActiveMembership | undefined {
    if (body.organisationId !== undefined) {
      return memberships.find((m) => m.organisationId === body.organisationId);
    }
    if (memberships.length <= 1) return memberships[0];
    // The password was right, so the user may learn their own organisations.
    throw new ProblemException(
      400,
      'ORGANISATION_REQUIRED',
      'You are a member of several organisations: sign in again with one of their ids as organisationId.',
      {
        organisations: memberships.map((m) => ({ id: m.organisationId, name: m.organisationName })),
      },
    );
  }

  /** The hash was made with weaker parameters than today's: replace it now the password is known. */
  private async rehash(userId: string, password: string): Promise<void> {
    try {
      await replacePasswordHash(this.pool, userId, await hashPassword(password));
    } catch (error) {
      // The sign-in itself succeeded; the next one tries again.
      this.logger.warn(`could not rehash the password of user ${userId}: ${String(error)}`);
    }
  }
}
