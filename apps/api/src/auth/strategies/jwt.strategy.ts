import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import {
  ACCESS_TOKEN_VERIFY_OPTIONS,
  accessTokenClaims,
  accessTokenKeyId,
  lookUpSessionPrincipal,
  SigningKeyStore,
} from '@beecastle/auth';
import { ROLE_PERMISSIONS } from '@beecastle/domain';
import { ExtractJwt, Strategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import type { AuthContext } from '../auth-context';

export const JWT_STRATEGY = 'jwt';

/**
 * Access tokens. passport-jwt checks the signature with the key the token's `kid` names, the pinned
 * algorithm, issuer and audience, and expiry; validate() then requires `exp` and every claim, and
 * asks the database, in one round trip, whether the member is still active (with which role) and
 * the session still open. So a deactivation, role change or logout bites on the next request.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, JWT_STRATEGY) {
  constructor(
    keys: SigningKeyStore,
    @Inject(APP_POOL) private readonly pool: Pool,
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
  }

  async validate(payload: unknown): Promise<AuthContext | null> {
    const claims = accessTokenClaims(payload);
    if (!claims) return null;
    const principal = await lookUpSessionPrincipal(this.pool, claims.org, claims.sub, claims.sid);
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
