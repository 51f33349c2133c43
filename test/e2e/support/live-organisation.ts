import { randomUUID } from 'node:crypto';
import type { Role } from '../../../libs/domain/src';
import type { Keyring } from '../../../libs/crypto/src';
import { testMasterKeyProvider } from '../../../libs/crypto/src/testing/test-master-key';
import { KEYRING } from '../../../apps/api/src/event-store/event-store.module';
import { streamName, type EventStore } from '../../../libs/event-store/src';
import { PROJECTIONS, startPostgresProjector, type EventLog } from '../../../libs/read-model/src';
import { openTestEventLog } from '../../../libs/read-model/src/testing/test-event-log';
import { runCli } from '../../../apps/cli/src/cli';
import { capturedIo } from '../../../apps/cli/src/testing/captured-io';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../libs/database/src/testing/test-database';
import type { HttpsResponse } from './https-request';
import { startTestApi, type TestApi } from './test-api';

/**
 * The real app over HTTPS with its projector running beside it (as `npm start` runs it), so that
 * organisations, users and keys are made only through the product's own paths: `org:create`, the
 * HTTP endpoints, and sign-in by POST /v1/auth/token.
 */
export interface LiveSystem {
  readonly api: TestApi;
  readonly db: TestDatabase;
  /** The log as the API sees it: encrypted at rest, read in the clear. */
  readonly store: EventStore;
  /** Its keys, as the API's (the same master key). */
  readonly eventLog: EventLog;
}

export function useLiveSystem(options: { readonly env?: Record<string, string> } = {}): LiveSystem {
  let system: LiveSystem | undefined;
  let stopProjector: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createTestDatabase();
    const api = await startTestApi({ databaseUrl: db.appUrl, env: options.env });
    // As main.ts runs it: in the API's process, sharing the API's keyring.
    stopProjector = startPostgresProjector(
      db.appUrl,
      PROJECTIONS,
      () => undefined,
      testMasterKeyProvider(),
      api.app.get<Keyring>(KEYRING),
    ).stop;
    const eventLog = openTestEventLog(db.app, { listenConnectionString: db.appUrl });
    system = { api, db, store: eventLog.store, eventLog };
  });
  afterAll(async () => {
    // The projector first: the keyring it uses closes with the API.
    await stopProjector?.();
    await system?.api.close();
    await system?.eventLog.close();
    await system?.db.drop();
  });
  const ready = (): LiveSystem => {
    if (!system) throw new Error('useLiveSystem: used outside a test');
    return system;
  };
  return {
    get api() {
      return ready().api;
    },
    get db() {
      return ready().db;
    },
    get store() {
      return ready().store;
    },
    get eventLog() {
      return ready().eventLog;
    },
  };
}

export const PASSWORD = 'a long enough passphrase for tests';

export interface Caller {
  readonly id: string;
  readonly email: string;
  /** `Bearer …` with an access token or an API key. */
  readonly authorization: string;
}

/** `npm run cli -- org:create`, in process, against the test database. */
export async function createOrganisation(
  db: TestDatabase,
  name = 'Acme',
): Promise<{ organisationId: string; owner: { id: string; email: string } }> {
  const email = `owner-${randomUUID()}@example.test`;
  const io = capturedIo({ DATABASE_URL: db.appUrl });
  const code = await runCli(
    ['org:create', '--name', name, '--owner-email', email, '--owner-password', PASSWORD],
    io,
  );
  if (code !== 0) throw new Error(`org:create failed: ${io.err}`);
  const { organisationId, ownerUserId } = JSON.parse(io.out) as {
    organisationId: string;
    ownerUserId: string;
  };
  return { organisationId, owner: { id: ownerUserId, email } };
}

export function client(api: TestApi) {
  const send = (
    method: string,
    path: string,
    caller?: { authorization: string },
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpsResponse> =>
    api.request(path, {
      method,
      headers: {
        ...(caller ? { authorization: caller.authorization } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const signIn = async (
    user: { id: string; email: string },
    organisationId: string,
  ): Promise<Caller> => {
    const res = await send('POST', '/v1/auth/token', undefined, {
      email: user.email,
      password: PASSWORD,
      organisationId,
    });
    if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${res.body}`);
    const { accessToken } = res.json() as { accessToken: string };
    return { ...user, authorization: `Bearer ${accessToken}` };
  };

  return {
    send,
    signIn,
    /** Adds a member through POST /v1/users and signs them in. */
    addMember: async (
      by: Caller,
      organisationId: string,
      role: Role,
      email = `${role}-${randomUUID()}@example.test`,
    ): Promise<Caller> => {
      const res = await send('POST', '/v1/users', by, {
        email,
        name: `The ${role}`,
        role,
        password: PASSWORD,
      });
      if (res.status !== 201) throw new Error(`add ${role} failed: ${res.status} ${res.body}`);
      const { id } = res.json() as { id: string };
      return signIn({ id, email }, organisationId);
    },
    /** Issues a key through POST /v1/api-keys; the caller acts as that key. */
    issueKey: async (by: Caller, role: Role): Promise<Caller> => {
      const res = await send('POST', '/v1/api-keys', by, { name: `${role} key`, role });
      if (res.status !== 201)
        throw new Error(`issue ${role} key failed: ${res.status} ${res.body}`);
      const { id, key } = res.json() as { id: string; key: string };
      return { id, email: '', authorization: `Bearer ${key}` };
    },
  };
}

/** How many events an organisation's stream holds: "nothing appended" means this did not move. */
export async function streamLength(store: EventStore, organisationId: string) {
  const stream = streamName('organisation', organisationId, organisationId);
  const events = await store.readStream(stream).catch(() => []);
  return events.length;
}

/** A problem answer without its request id, which differs by design. */
export function withoutRequestId(res: HttpsResponse): unknown {
  const { requestId: _requestId, ...rest } = res.json() as Record<string, unknown>;
  return rest;
}
