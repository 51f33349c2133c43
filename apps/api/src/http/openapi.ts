import type { INestApplication } from '@nestjs/common';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type ParameterObject,
  SwaggerModule,
} from '@nestjs/swagger';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { IS_PUBLIC } from '../auth/auth.decorators';

export const DOCS_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs-json';
const BEARER = 'bearer';

const DESCRIPTION = [
  'Event-sourced, multi-tenant contact store. JSON in and out over HTTPS; errors are RFC 9457',
  'problem details (`application/problem+json`) with a stable `code` and the `requestId`.',
  'Every route but `/v1/auth/token`, `/v1/auth/refresh`, `/.well-known/jwks.json`, `/health/*`',
  'and `/docs*` needs `Authorization: Bearer <access token or API key>`.',
  'Writes accept an `Idempotency-Key` header: a retry with the same key and body returns the first',
  'answer (with `Idempotent-Replayed: true`) and changes nothing.',
].join(' ');

/**
 * The API's own pages are JSON and may load nothing; the documentation UI is an HTML page that
 * loads its script and styles from here. Scripts stay same-origin only; styles need inline (the
 * page and Swagger UI set some), which is harmless on a page that shows no user content.
 */
const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** `/docs` and what is under it (the UI's page, script and styles), not `/docs-json`. */
function isDocsPage(url: string): boolean {
  return url === DOCS_PATH || url.startsWith(`${DOCS_PATH}/`) || url.startsWith(`${DOCS_PATH}?`);
}

/**
 * Serves the OpenAPI document at GET /docs-json and Swagger UI at GET /docs. Call after the
 * security headers are installed: the UI's policy, set by a later request hook, replaces theirs
 * for /docs only.
 */
export function serveOpenApi(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      if (isDocsPage(request.url))
        reply.raw.setHeader('Content-Security-Policy', DOCS_CONTENT_SECURITY_POLICY);
      done();
    });
  const config = new DocumentBuilder()
    .setTitle('BeeCastle API')
    .setVersion('1')
    .setDescription(DESCRIPTION)
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description: 'An access token from POST /v1/auth/token, or an API key (`bck_…`).',
      },
      BEARER,
    )
    .addSecurityRequirements(BEARER)
    .build();
  // Built on first request: by then every module's controllers are known.
  const document = () => describeConventions(app, SwaggerModule.createDocument(app, config));
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'BeeCastle API',
  });
}

const IDEMPOTENCY_KEY: ParameterObject = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the same key with the same request (method, path, caller, If-Match, ' +
    'JSON body) within 24 hours answers the first answer again, with `Idempotent-Replayed: ' +
    'true`, and changes nothing; with a different request, 422 `IDEMPOTENCY_KEY_REUSED`; while ' +
    'the first still runs, 409 `IDEMPOTENCY_KEY_IN_FLIGHT` with `Retry-After`. Per organisation.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' },
  example: '3f1c2a9e-order-import-42',
};
const WRITES = ['post', 'put', 'patch', 'delete'] as const;

/**
 * What the decorators cannot say per route. Bearer authentication is declared for the whole
 * document; the routes marked @Public() (the same marking the guard reads) say they need none, so
 * the two can never disagree; and every other write takes an Idempotency-Key, as the global
 * interceptor does.
 */
function describeConventions(app: INestApplication, document: OpenAPIObject): OpenAPIObject {
  for (const { method, path } of publicRoutes(app)) {
    const operation = document.paths[path]?.[method];
    if (operation) operation.security = [];
  }
  for (const item of Object.values(document.paths)) {
    for (const method of WRITES) {
      const operation = item[method];
      if (!operation || operation.security !== undefined) continue;
      operation.parameters = [...(operation.parameters ?? []), IDEMPOTENCY_KEY];
    }
  }
  return document;
}

type OperationKey = 'get' | 'post' | 'put' | 'patch' | 'delete';

function publicRoutes(app: INestApplication): { method: OperationKey; path: string }[] {
  const routes: { method: OperationKey; path: string }[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller) continue;
      const classPublic = Reflect.getMetadata(IS_PUBLIC, controller) === true;
      const bases = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[]].flat();
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (paths === undefined || method === undefined) continue;
        if (!classPublic && Reflect.getMetadata(IS_PUBLIC, handler) !== true) continue;
        for (const base of bases) {
          for (const path of [paths].flat()) {
            routes.push({
              method: RequestMethod[method].toLowerCase() as OperationKey,
              path: openApiPath(base, path),
            });
          }
        }
      }
    }
  }
  return routes;
}

/** `v1/users` + `:id` → `/v1/users/{id}`, as the document spells paths. */
function openApiPath(...parts: string[]): string {
  const segments = parts.flatMap((p) => p.split('/')).filter((p) => p !== '');
  return `/${segments.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
}
