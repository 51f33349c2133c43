import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { IS_PUBLIC } from '../../apps/api/src/auth/auth.decorators';
import { useTestApi } from './support/test-api';

/**
 * Routes that answer without credentials, on purpose (API.md, "Authentication": `/v1/auth/token`,
 * `/v1/auth/refresh`, `/.well-known/jwks.json`, `/health/*`, `/docs*`). Anything else must answer
 * 401 to a request without credentials. Adding a route here is a decision, not a fix for a test.
 */
const DELIBERATELY_PUBLIC: readonly RegExp[] = [
  /^POST \/v1\/auth\/token$/,
  /^POST \/v1\/auth\/refresh$/,
  /^GET \/\.well-known\/jwks\.json$/,
  /^GET \/health\/[^/]+$/,
  /^GET \/docs(-json|\/.*|\*)?$/,
];
const isDeliberatelyPublic = (route: string) => DELIBERATELY_PUBLIC.some((p) => p.test(route));
/** The documentation (SwaggerModule) is the only thing that routes outside a controller. */
const isDocumentation = (route: string) => /^GET \/docs(-json|\/.*|\*)?$/.test(route);

/** Every controller route Nest knows, with whether it is marked @Public (method or class). */
function controllerRoutes(modules: ModulesContainer): Map<string, boolean> {
  const routes = new Map<string, boolean>();
  const join = (...parts: string[]) =>
    `/${parts
      .flatMap((p) => p.split('/'))
      .filter((p) => p !== '')
      .join('/')}`;
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller) continue;
      const base = Reflect.getMetadata(PATH_METADATA, controller) as string | string[];
      const classPublic = Reflect.getMetadata(IS_PUBLIC, controller) === true;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (path === undefined || method === undefined) continue;
        const handlerPublic = Reflect.getMetadata(IS_PUBLIC, handler) === true;
        for (const b of [base].flat()) {
          for (const p of [path].flat()) {
            routes.set(`${RequestMethod[method]} ${join(b, p)}`, classPublic || handlerPublic);
          }
        }
      }
    }
  }
  return routes;
}

/** A concrete URL for a route template: every parameter becomes a random-looking id. */
function concretePath(template: string): string {
  return template.replace(/:[A-Za-z0-9_]+/g, '7d9f1c1e-5b8a-4c1e-9f0a-2b3c4d5e6f70');
}

describe('route inventory', () => {
  const t = useTestApi();
  let registered: string[];
  let markedPublic: Map<string, boolean>;

  beforeAll(() => {
    registered = [...t.api.routes];
    markedPublic = controllerRoutes(t.api.app.get(ModulesContainer));
  });

  it('finds the routes (the inventory itself works)', () => {
    expect(registered).toEqual(
      expect.arrayContaining(['GET /v1/me', 'POST /v1/auth/token', 'GET /health/live']),
    );
    expect(registered).toEqual(expect.arrayContaining(['GET /docs', 'GET /docs-json']));
    // Every route the server routes is a controller route whose marking is known, and vice versa.
    const served = [...new Set(registered)].filter((route) => !isDocumentation(route));
    expect([...markedPublic.keys()].sort()).toEqual(served.sort());
  });

  it('every route is either deliberately public (and marked @Public) or answers 401 without credentials', async () => {
    const failures: string[] = [];
    for (const route of new Set(registered)) {
      const [method, template] = route.split(' ');
      const isPublic = markedPublic.get(route) === true;
      if (!markedPublic.has(route) && isDocumentation(route)) continue;
      if (isDeliberatelyPublic(route)) {
        if (!isPublic) failures.push(`${route} is meant to be public but is not marked @Public()`);
        continue;
      }
      if (isPublic) {
        failures.push(`${route} is marked @Public() but API.md does not make it public`);
        continue;
      }
      const res = await t.api.request(concretePath(template), { method });
      if (res.status !== 401 || res.headers['www-authenticate'] !== 'Bearer') {
        failures.push(`${route} answered ${res.status} without credentials`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('the allowlist names only routes that exist or API.md reserves (docs)', () => {
    for (const route of [
      'POST /v1/auth/token',
      'POST /v1/auth/refresh',
      'GET /.well-known/jwks.json',
    ]) {
      expect(registered).toContain(route);
      expect(markedPublic.get(route)).toBe(true);
    }
  });
});
