import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { looksLikeApiKey } from '@beecastle/auth';
import type { Permission } from '@beecastle/domain';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../http/problem.exception';
import type { AuthContext, AuthenticatedRequest } from './auth-context';
import { IS_PUBLIC, REQUIRED_PERMISSION } from './auth.decorators';
import { bearerCredential } from './bearer-credential';
import { ApiKeyStrategy } from './strategies/api-key.strategy';
import { JWT_STRATEGY } from './strategies/jwt.strategy';
import { unauthorised } from './unauthorised';

/** A strategy's refusal becomes the one generic 401; its errors (the database down) stay errors. */
function generic401<TUser>(err: unknown, user: TUser | false | null | undefined): TUser {
  if (err instanceof Error) throw err;
  if (err) throw new Error('Authentication strategy failed');
  if (!user) throw unauthorised();
  return user;
}

@Injectable()
export class JwtAuthGuard extends AuthGuard(JWT_STRATEGY) {
  override handleRequest<TUser>(err: unknown, user: TUser | false): TUser {
    return generic401(err, user);
  }
}

/** API keys: the strategy asked directly, with passport's answers (req.user, or the one 401). */
@Injectable()
export class ApiKeyAuthGuard implements CanActivate {
  constructor(private readonly strategy: ApiKeyStrategy) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
    request.user = generic401(null, await this.strategy.validate(request));
    return true;
  }
}

/**
 * The one guard in front of every route (APP_GUARD). A route opts out only with `@Public()`.
 * Otherwise the Bearer credential's shape picks the strategy (API keys start `bck_`, anything else
 * is tried as an access token), and then the route's `@RequirePermission` is checked against the
 * caller's live permissions; the command handler checks again, authoritatively.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtAuthGuard,
    private readonly apiKey: ApiKeyAuthGuard,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
    const credential = bearerCredential(request);
    if (credential === undefined) throw unauthorised();
    await (looksLikeApiKey(credential) ? this.apiKey : this.jwt).canActivate(context);

    const auth: AuthContext | undefined = request.user;
    if (!auth) throw unauthorised();
    const permission = this.reflector.getAllAndOverride<Permission | undefined>(
      REQUIRED_PERMISSION,
      targets,
    );
    if (permission !== undefined && !auth.permissions.includes(permission)) {
      throw new ProblemException(
        403,
        'FORBIDDEN',
        `Your role (${auth.role}) does not have the permission this needs (${permission}).`,
      );
    }
    return true;
  }
}
