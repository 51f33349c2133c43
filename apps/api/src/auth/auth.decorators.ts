import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Permission } from '@beecastle/domain';
import type { AuthContext, AuthenticatedRequest } from './auth-context';

export const IS_PUBLIC = 'beecastle:public';
export const REQUIRED_PERMISSION = 'beecastle:permission';

/** Opts a route out of the global guard. Every use is deliberate, and the route test lists them. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * The permission a route needs, checked by the guard to fail fast. The command handler checks it
 * again, authoritatively: the CLI, projector and restore reach handlers without HTTP.
 */
export const RequirePermission = (permission: Permission) =>
  SetMetadata(REQUIRED_PERMISSION, permission);

/** The verified caller of a guarded route. */
export const CurrentAuth = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthContext => {
    const auth = context.switchToHttp().getRequest<AuthenticatedRequest>().user;
    // Only reachable on a public route by mistake: fail loudly rather than act as nobody.
    if (!auth) throw new Error('CurrentAuth used on a route without authentication');
    return auth;
  },
);
