import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ROLE_PERMISSIONS, type Role } from '@beecastle/domain';
import { ProblemException } from '../http/problem.exception';
import type { AuthContext } from './auth-context';
import { Public, RequirePermission } from './auth.decorators';
import {
  type ApiKeyAuthGuard,
  AuthenticationGuard,
  type JwtAuthGuard,
} from './authentication.guard';

class Routes {
  @Public()
  open(): void {}

  @RequirePermission('users:manage')
  manageUsers(): void {}

  anyone(): void {}
}

/** A strategy guard that authenticates as `role`, and records that it was the one asked. */
function strategy(role: Role | undefined, calls: string[], name: string) {
  return {
    canActivate: (context: ExecutionContext) => {
      calls.push(name);
      if (!role) throw new ProblemException(401, 'UNAUTHORIZED', 'no');
      const auth: Partial<AuthContext> = { role, permissions: ROLE_PERMISSIONS[role] };
      context.switchToHttp().getRequest<{ user?: unknown }>().user = auth;
      return Promise.resolve(true);
    },
  };
}

function contextFor(handler: keyof Routes, authorization?: string): ExecutionContext {
  const request = { headers: authorization ? { authorization } : {} };
  return {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

async function answer(guard: AuthenticationGuard, context: ExecutionContext) {
  try {
    return await guard.canActivate(context);
  } catch (error) {
    return error instanceof ProblemException ? [error.status, error.code, error.headers] : error;
  }
}

describe('AuthenticationGuard', () => {
  const build = (role: Role | undefined) => {
    const calls: string[] = [];
    const guard = new AuthenticationGuard(
      new Reflector(),
      strategy(role, calls, 'jwt') as unknown as JwtAuthGuard,
      strategy(role, calls, 'api-key') as unknown as ApiKeyAuthGuard,
    );
    return { guard, calls };
  };

  it('lets @Public() routes through without asking any strategy', async () => {
    const { guard, calls } = build(undefined);
    await expect(answer(guard, contextFor('open'))).resolves.toBe(true);
    expect(calls).toEqual([]);
  });

  it('answers the generic 401 with WWW-Authenticate when there is no Bearer credential', async () => {
    const { guard, calls } = build('owner');
    for (const header of [undefined, 'Basic abc', 'Bearer', 'Bearer two words']) {
      await expect(answer(guard, contextFor('anyone', header))).resolves.toEqual([
        401,
        'UNAUTHORIZED',
        { 'WWW-Authenticate': 'Bearer' },
      ]);
    }
    expect(calls).toEqual([]);
  });

  it('picks the strategy by the credential’s shape', async () => {
    const { guard, calls } = build('viewer');
    await answer(guard, contextFor('anyone', 'Bearer bck_abc'));
    await answer(guard, contextFor('anyone', 'Bearer eyJ.eyJ.sig'));
    expect(calls).toEqual(['api-key', 'jwt']);
  });

  it('checks @RequirePermission against the caller’s live permissions: 403 without it', async () => {
    await expect(answer(build('admin').guard, contextFor('manageUsers', 'Bearer x'))).resolves.toBe(
      true,
    );
    await expect(
      answer(build('editor').guard, contextFor('manageUsers', 'Bearer x')),
    ).resolves.toEqual([403, 'FORBIDDEN', {}]);
    await expect(answer(build('viewer').guard, contextFor('anyone', 'Bearer x'))).resolves.toBe(
      true,
    );
  });
});
