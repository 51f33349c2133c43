import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfiguration } from '@beecastle/config';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../../apps/api/src/create-app';
import { TEST_MASTER_KEY_BASE64 } from '../../../libs/crypto/src/testing/test-master-key';
import { createRootLogger } from '@beecastle/runtime';
import { loadTlsMaterial } from '../../../apps/api/src/tls/tls-material';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../libs/database/src/testing/test-database';
import { httpsRequest, type HttpsRequestOptions, type HttpsResponse } from './https-request';

export interface TestApi {
  readonly app: NestFastifyApplication;
  /**
   * Every method and path the server routes (`GET /v1/contacts/:id`), as registered, whoever
   * registered it. HEAD is left out: Fastify answers it for every GET with the GET's handler.
   */
  readonly routes: readonly string[];
  readonly port: number;
  readonly baseUrl: string;
  /** The local CA that issued the server's certificate: what clients trust. */
  readonly ca: Buffer;
  request(path: string, options?: Omit<HttpsRequestOptions, 'ca'>): Promise<HttpsResponse>;
  /** Every JSON log line written so far, parsed. */
  logs(): Record<string, unknown>[];
  /** The request-log line for one request, once the request-logging hook has written it (on 'finish'). */
  requestLog(requestId: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Every method and path in Fastify's own route tree, as `printRoutes` draws it: one node a line,
 * four columns a level, the node's path after its parent's, its methods in brackets.
 */
function routesIn(tree: string): string[] {
  const paths: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const node = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!node) continue;
    const depth = node[1].length / 4;
    paths.length = depth;
    const path = `${paths[depth - 1] ?? ''}${node[2]}`;
    paths.push(path);
    for (const method of node[3]?.split(', ') ?? []) {
      if (method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

/**
 * The real application, built as main.ts builds it, served over HTTPS on a free port with a
 * certificate from a local CA generated in a throwaway DATA_DIR (or the TLS_CERT_FILE in `env`).
 */
export async function startTestApi(options: {
  readonly databaseUrl: string;
  readonly env?: Record<string, string>;
  readonly certificateReloadIntervalMs?: number;
}): Promise<TestApi> {
  const dataDir = await mkdtemp(join(tmpdir(), 'beecastle-e2e-'));
  // The master key the test's projector, CLI and direct stores use too (unless the test says).
  const config = loadConfiguration({
    DATA_DIR: dataDir,
    MASTER_KEY: TEST_MASTER_KEY_BASE64,
    ...options.env,
  });
  const tls = await loadTlsMaterial(config);
  const ca = tls.ca ?? tls.cert;
  const lines: string[] = [];
  const logger = createRootLogger('info', { write: (line: string) => void lines.push(line) });
  const app = await createApp({
    config,
    databaseUrl: options.databaseUrl,
    tls,
    logger,
    certificateReloadIntervalMs: options.certificateReloadIntervalMs,
  });
  await app.listen(0, '127.0.0.1');
  const routes = routesIn(app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false }));
  const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  const baseUrl = `https://127.0.0.1:${port}`;
  const logs = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  return {
    app,
    routes,
    port,
    baseUrl,
    ca,
    request: (path, requestOptions = {}) =>
      httpsRequest(`${baseUrl}${path}`, { ...requestOptions, ca }),
    logs,
    requestLog: async (requestId) => {
      // Polls for a condition with a deadline: the client can have the answer a moment before
      // the server's 'finish' event, which is when the line is written.
      const deadline = Date.now() + 2_000;
      for (;;) {
        const line = logs().find((l) => l.requestId === requestId && l.msg === 'request');
        if (line) return line;
        if (Date.now() > deadline) throw new Error(`no request log line for ${requestId}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close: async () => {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Declares the beforeAll/afterAll of a describe block that talks to the real app over HTTPS, on a
 * fresh migrated database of its own.
 */
export function useTestApi(): { readonly api: TestApi; readonly db: TestDatabase } {
  let db: TestDatabase | undefined;
  let api: TestApi | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startTestApi({ databaseUrl: db.appUrl });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useTestApi: used outside a test');
    return value;
  };
  return {
    get api() {
      return ready(api);
    },
    get db() {
      return ready(db);
    },
  };
}
