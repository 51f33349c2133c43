import { useTestApi } from './support/test-api';

interface Operation {
  tags?: string[];
  security?: unknown[];
  parameters?: {
    name: string;
    in: string;
    required?: boolean;
    schema?: { example?: unknown };
  }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, unknown>;
}
interface Schema {
  type?: string;
  required?: string[];
  properties?: Record<string, { example?: unknown; enum?: unknown[]; [key: string]: unknown }>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, { type: string; scheme?: string }>;
  };
  security?: Record<string, string[]>[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Paths API.md names that this build serves (the contacts sections join as they are built). */
const API_MD_PATHS: Record<string, string[]> = {
  '/v1/auth/token': ['post'],
  '/v1/auth/refresh': ['post'],
  '/v1/auth/logout': ['post'],
  '/v1/me': ['get'],
  '/.well-known/jwks.json': ['get'],
  '/v1/users': ['get', 'post'],
  '/v1/users/{id}': ['patch'],
  '/v1/users/{id}/deactivate': ['post'],
  '/v1/users/{id}/reactivate': ['post'],
  '/v1/api-keys': ['get', 'post'],
  '/v1/api-keys/{id}': ['delete'],
  '/v1/audit/requests': ['get'],
  '/health/live': ['get'],
  '/health/ready': ['get'],
};

/** Every route the app serves through a controller (not the documentation's own). */
function servedRoutes(routes: readonly string[]): string[] {
  return routes
    .map((route) => {
      const [method, path] = route.split(' ');
      return `${method.toLowerCase()} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
    })
    .filter((route) => !/^get \/docs/.test(route));
}

describe('OpenAPI: GET /docs-json and GET /docs', () => {
  const t = useTestApi();
  let doc: OpenApiDocument;

  beforeAll(async () => {
    const res = await t.api.request('/docs-json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.json() as OpenApiDocument;
  });

  it('is an OpenAPI 3 document with a title, version, description and bearer authentication', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({
      title: 'BeeCastle API',
      version: '1',
      description: expect.stringContaining('Idempotency-Key'),
    });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
  });

  it('is well formed: every operation answers something and every $ref resolves', () => {
    const refs = new Set<string>();
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value !== null && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === '$ref' && typeof inner === 'string') refs.add(inner);
          else collect(inner);
        }
      }
    };
    collect(doc);
    expect(refs.size).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').pop()!]).toBeDefined();
    }
    for (const [path, item] of Object.entries(doc.paths)) {
      expect(path).toMatch(/^\//);
      expect(path).not.toMatch(/:/);
      for (const [method, operation] of Object.entries(item)) {
        expect(METHODS).toContain(method);
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
      }
    }
  });

  it('lists every path of API.md that this build serves, and every route the app serves', () => {
    for (const [path, methods] of Object.entries(API_MD_PATHS)) {
      expect([path, Object.keys(doc.paths[path] ?? {}).sort()]).toEqual([
        path,
        expect.arrayContaining(methods),
      ]);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    const served = servedRoutes(t.api.routes);
    expect(served.length).toBeGreaterThan(Object.keys(API_MD_PATHS).length);
    expect(documented.sort()).toEqual([...new Set(served)].sort());
  });

  it('says which routes need no credentials, as the guard does, and no others', () => {
    const open = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => operation.security !== undefined)
        .map(([method, operation]) => [`${method} ${path}`, operation.security]),
    );
    expect(Object.fromEntries(open)).toEqual({
      'post /v1/auth/token': [],
      'post /v1/auth/refresh': [],
      'get /.well-known/jwks.json': [],
      'get /health/live': [],
      'get /health/ready': [],
    });
  });

  it('describes request bodies from the DTOs: every property with an example, limits and enums', () => {
    const bodies: Record<string, string> = {
      'post /v1/auth/token': 'LoginDto',
      'post /v1/auth/refresh': 'RefreshDto',
      'post /v1/users': 'AddUserDto',
      'patch /v1/users/{id}': 'UpdateUserDto',
      'post /v1/api-keys': 'IssueApiKeyDto',
    };
    for (const [route, name] of Object.entries(bodies)) {
      const [method, path] = route.split(' ');
      const body = doc.paths[path][method].requestBody;
      expect([route, body?.content['application/json'].schema.$ref]).toEqual([
        route,
        `#/components/schemas/${name}`,
      ]);
      const schema = doc.components.schemas[name];
      expect(Object.keys(schema.properties ?? {}).length).toBeGreaterThan(0);
      for (const [field, property] of Object.entries(schema.properties!)) {
        expect([name, field, property.example]).toEqual([name, field, expect.anything()]);
      }
    }
    const { AddUserDto, UpdateUserDto, IssueApiKeyDto, LoginDto } = doc.components.schemas;
    expect(AddUserDto.required?.sort()).toEqual(['email', 'name', 'password', 'role']);
    expect(AddUserDto.properties!.role.enum).toEqual(
      expect.arrayContaining(['owner', 'admin', 'editor', 'viewer', 'auditor']),
    );
    expect(AddUserDto.properties!.name).toMatchObject({ maxLength: 200 });
    expect(UpdateUserDto.required ?? []).toEqual([]);
    expect(IssueApiKeyDto.required?.sort()).toEqual(['name', 'role']);
    expect(LoginDto.required?.sort()).toEqual(['email', 'password']);
  });

  it('describes the request-log query parameters with examples', () => {
    const parameters = doc.paths['/v1/audit/requests'].get.parameters ?? [];
    const query = parameters.filter((p) => p.in === 'query');
    expect(query.find((p) => p.name === 'limit')?.schema).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 200,
    });
    expect(query.map((p) => p.name).sort()).toEqual(
      ['cursor', 'from', 'ip', 'limit', 'status', 'to', 'userId'].sort(),
    );
    for (const parameter of query) {
      expect([parameter.name, parameter.required, parameter.schema?.example]).toEqual([
        parameter.name,
        false,
        expect.anything(),
      ]);
    }
  });

  it('serves the browsable UI at /docs with its own script and styles, under a policy that lets only those load', async () => {
    const page = await t.api.request('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['x-request-id']).toBeDefined();
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);

    const assets = [...page.body.matchAll(/(?:src|href)=["']\.?\/?(?:docs\/)?([^"'#]+)["']/g)]
      .map((m) => m[1])
      .filter((asset) => !asset.startsWith('http'));
    expect(assets).toEqual(
      expect.arrayContaining([
        'swagger-ui.css',
        'swagger-ui-bundle.js',
        'swagger-ui-standalone-preset.js',
        'swagger-ui-init.js',
      ]),
    );
    for (const asset of assets) {
      const res = await t.api.request(`/docs/${asset}`);
      expect([asset, res.status]).toEqual([asset, 200]);
      if (asset.endsWith('.js')) expect(res.headers['content-type']).toMatch(/javascript/);
      if (asset.endsWith('.css')) expect(res.headers['content-type']).toMatch(/^text\/css/);
    }
    // The UI is initialised with this document, not the bundle's sample.
    const init = await t.api.request('/docs/swagger-ui-init.js');
    expect(init.body).toContain('BeeCastle API');
    expect(init.body).not.toContain('petstore');
  });

  it('keeps the strict policy everywhere but the UI', async () => {
    for (const path of ['/docs-json', '/health/live']) {
      const res = await t.api.request(path);
      expect([path, res.headers['content-security-policy']]).toEqual([
        path,
        expect.stringContaining("default-src 'none'"),
      ]);
      expect(String(res.headers['content-security-policy'])).not.toContain("'self'");
    }
  });
});
