import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import {
  ACCESS_TOKEN_VERIFY_OPTIONS,
  accessTokenClaims,
  accessTokenKeyId,
  SigningKeyStore,
  VerifiedTokenCache,
} from '@beecastle/auth';
import { ROLE_PERMISSIONS } from '@beecastle/domain';
import { ExtractJwt, Strategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import type { AuthContext } from '../auth-context';
import { PrincipalLookups } from '../principal-lookups';

export const JWT_STRATEGY = 'jwt';

/**
 * Access tokens. passport-jwt checks the signature with the key the token's `kid` names, the pinned
 * algorithm, issuer and audience, and expiry; validate() then requires `exp` and every claim, and
 * asks the database, in one round trip, whether the member is still active (with which role) and
 * the session still open. So a deactivation, role change or logout bites on the next request.
 *
 * Signatures already verified are remembered until the token expires (VerifiedTokenCache, through
 * passport-jwt's verifier hook): the membership and session checks are never skipped.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, JWT_STRATEGY) {
  constructor(
    keys: SigningKeyStore,
    private readonly lookups: PrincipalLookups,
  ) {
    const options: StrategyOptionsWithoutRequest = {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ...ACCESS_TOKEN_VERIFY_OPTIONS,
      ignoreExpiration: false,
      secretOrKeyProvider: (_request, rawJwtToken: string, done) => {
        const keyId = accessTokenKeyId(rawJwtToken);
        if (!keyId) return done(new Error('no usable kid'));
        keys.verificationKey(keyId).then(
          // A KeyObject, which jsonwebtoken takes; passport-jwt's types know only strings and buffers.
          (key) => (key ? done(null, key as unknown as Buffer) : done(new Error('unknown kid'))),
          (error: unknown) => done(error),
        );
      },
    };
    super(options);
    // passport-jwt verifies through this one replaceable function (the same jsonwebtoken call with
    // the options above); there is one JWT strategy per process.
    (Strategy as unknown as { JwtVerifier: unknown }).JwtVerifier =
      new VerifiedTokenCache().verifier();
  }

  async validate(payload: unknown): Promise<AuthContext | null> {
    const claims = accessTokenClaims(payload);
    if (!claims) return null;
    const principal = await this.lookups.session({
      organisationId: claims.org,
      userId: claims.sub,
      sessionId: claims.sid,
    });
    if (!principal) return null;
    return {
      organisationId: claims.org,
      actor: { type: 'user', id: claims.sub },
      role: principal.role,
      permissions: ROLE_PERMISSIONS[principal.role],
      userId: claims.sub,
      sessionId: claims.sid,
      profile: {
        user: { id: claims.sub, email: principal.email, name: principal.name },
        organisation: { id: claims.org, name: principal.organisationName },
      },
    };
  }
}
