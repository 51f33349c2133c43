import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createPool, withOrganisation } from '@beecastle/database';
import {
  createTestDatabase,
  TEST_ENV_VARIABLE,
  type TestDatabase,
  type TestDatabaseEnvironment,
} from '../../database/src/testing/test-database';
import type { RequestLogEntry } from './request-log-entry';
import { RequestLogWriter, type RequestLogWriterLog } from './request-log-writer';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

class CapturedLog implements RequestLogWriterLog {
  readonly lines: { level: 'warn' | 'error'; fields: Record<string, unknown>; message: string }[] =
    [];
  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message });
  }
  error(fields: object, message: string): void {
    this.lines.push({ level: 'error', fields: fields as Record<string, unknown>, message });
  }
}

function entry(overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    at: new Date(),
    requestId: randomUUID(),
    clientIp: '192.0.2.7',
    method: 'GET',
    route: '/v1/me',
    status: 200,
    latencyMs: 1.5,
    organisationId: undefined,
    userId: undefined,
    apiKeyId: undefined,
    ...overrides,
  };
}

/** An organisation's request_log rows, read through its own row-level-security scope. */
async function tenantRows(organisationId: string): Promise<Record<string, unknown>[]> {
  return withOrganisation(db.owner, organisationId, async (client) => {
    const result = await client.query<Record<string, unknown>>(
      `SELECT org_id, request_id, host(client_ip) AS client_ip, method, route, status, latency_ms,
              user_id, api_key_id, at FROM request_log ORDER BY id`,
    );
    return result.rows;
  });
}

async function unattributedRows(requestIds: readonly string[]): Promise<Record<string, unknown>[]> {
  const result = await db.owner.query<Record<string, unknown>>(
    `SELECT request_id, host(client_ip) AS client_ip, method, route, status, latency_ms, at
       FROM request_log_unattributed WHERE request_id = ANY($1) ORDER BY id`,
    [requestIds],
  );
  return result.rows;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A superuser on this test database: to refuse and re-admit the application's connections. */
async function asSuperuser(work: (client: Client) => Promise<unknown>): Promise<void> {
  const env = JSON.parse(process.env[TEST_ENV_VARIABLE] ?? '{}') as TestDatabaseEnvironment;
  const client = new Client({ connectionString: env.superuserUrl });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

describe('RequestLogWriter', () => {
  it('writes nothing on record(); a batch is written on the interval, a full one at once', async () => {
    const log = new CapturedLog();
    const organisationId = randomUUID();
    const writer = new RequestLogWriter(db.app, { log, flushIntervalMs: 60_000, batchSize: 10 });
    try {
      for (let i = 0; i < 9; i += 1) writer.record(entry({ organisationId }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await tenantRows(organisationId)).toHaveLength(0);
      expect(writer.buffered).toBe(9);

      writer.record(entry({ organisationId })); // the tenth fills the batch
      await eventually(async () => (await tenantRows(organisationId)).length === 10);
      expect(writer.buffered).toBe(0);
    } finally {
      await writer.close();
    }

    const timed = new RequestLogWriter(db.app, { log, flushIntervalMs: 50, batchSize: 500 });
    try {
      const other = randomUUID();
      timed.record(entry({ organisationId: other }));
      await eventually(async () => (await tenantRows(other)).length === 1);
    } finally {
      await timed.close();
    }
    expect(log.lines).toEqual([]);
  });

  it('writes each organisation under its own row-level security, and the rest unattributed', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const userId = randomUUID();
    const apiKeyId = randomUUID();
    const at = new Date('2026-03-01T10:11:12.345Z');
    const writer = new RequestLogWriter(db.app, {
      log: new CapturedLog(),
      flushIntervalMs: 60_000,
    });
    const ofA = entry({ organisationId: a, userId, at, status: 403, route: '/v1/users' });
    const ofB = [
      entry({ organisationId: b, apiKeyId, method: 'POST' }),
      entry({ organisationId: b, clientIp: undefined, route: undefined }),
    ];
    const nobody = entry({ status: 401, latencyMs: 0.25 });
    writer.record(ofB[0]);
    writer.record(ofA);
    writer.record(nobody);
    writer.record(ofB[1]);
    await writer.close();

    expect(await tenantRows(a)).toEqual([
      {
        org_id: a,
        request_id: ofA.requestId,
        client_ip: '192.0.2.7',
        method: 'GET',
        route: '/v1/users',
        status: 403,
        latency_ms: 1.5,
        user_id: userId,
        api_key_id: null,
        at,
      },
    ]);
    const rowsOfB = await tenantRows(b);
    expect(rowsOfB.map((r) => [r.request_id, r.api_key_id, r.client_ip, r.route])).toEqual([
      [ofB[0].requestId, apiKeyId, '192.0.2.7', '/v1/me'],
      [ofB[1].requestId, null, null, null],
    ]);
    expect(await unattributedRows([nobody.requestId, ofA.requestId])).toEqual([
      {
        request_id: nobody.requestId,
        client_ip: '192.0.2.7',
        method: 'GET',
        route: '/v1/me',
        status: 401,
        latency_ms: 0.25,
        at: nobody.at,
      },
    ]);
  });

  it('the application role cannot read the log without an organisation, nor change it', async () => {
    const organisationId = randomUUID();
    const writer = new RequestLogWriter(db.app, { log: new CapturedLog() });
    writer.record(entry({ organisationId }));
    await writer.close();
    expect((await db.app.query('SELECT 1 FROM request_log')).rowCount).toBe(0);
    await expect(
      withOrganisation(db.app, organisationId, (c) => c.query('DELETE FROM request_log')),
    ).rejects.toThrow(/permission denied/);
    await expect(db.app.query('SELECT 1 FROM request_log_unattributed')).rejects.toThrow(
      /permission denied/,
    );
    expect(await tenantRows(organisationId)).toHaveLength(1);
  });

  it('close() writes every buffered record: nothing is lost on a clean shutdown', async () => {
    const organisations = [randomUUID(), randomUUID(), randomUUID()];
    const writer = new RequestLogWriter(db.app, {
      log: new CapturedLog(),
      flushIntervalMs: 60_000,
      batchSize: 500,
    });
    const requestIds: string[] = [];
    for (let i = 0; i < 2_100; i += 1) {
      const organisationId = i % 4 === 3 ? undefined : organisations[i % 4];
      const e = entry({ organisationId });
      requestIds.push(e.requestId);
      writer.record(e);
    }
    await writer.close();
    expect(writer.buffered).toBe(0);
    const counts = await Promise.all(organisations.map(async (o) => (await tenantRows(o)).length));
    expect(counts).toEqual([525, 525, 525]);
    expect(await unattributedRows(requestIds)).toHaveLength(525);
  });

  it('with the database down: record() stays instant, memory is bounded and the drops are reported', async () => {
    const log = new CapturedLog();
    // Nothing listens on port 1: every connection is refused.
    const down = createPool('postgres://nobody:nothing@127.0.0.1:1/none_test', {
      applicationName: 'beecastle-test-down',
    });
    const writer = new RequestLogWriter(down, {
      log,
      flushIntervalMs: 20,
      batchSize: 10,
      maxBuffered: 100,
      dropReportIntervalMs: 0,
    });
    try {
      const started = performance.now();
      for (let i = 0; i < 150; i += 1) writer.record(entry({ organisationId: randomUUID() }));
      expect(performance.now() - started).toBeLessThan(100);
      await eventually(() =>
        Promise.resolve(log.lines.some((l) => /cannot write/.test(l.message))),
      );
      expect(writer.buffered).toBe(100);
      const dropped = log.lines
        .filter((l) => /records dropped/.test(l.message))
        .reduce((sum, l) => sum + (l.fields.dropped as number), 0);
      expect(dropped).toBe(50);
    } finally {
      await writer.close();
      await down.end();
    }
    expect(writer.buffered).toBe(0);
    expect(log.lines.at(-1)).toEqual({
      level: 'error',
      fields: { lost: 100 },
      message: expect.stringMatching(/could not take the last records/),
    });
    // One line when writing started failing, not one per retry.
    expect(log.lines.filter((l) => /cannot write/.test(l.message))).toHaveLength(1);
  });

  it('keeps records while the database refuses connections and writes them when it is back', async () => {
    const log = new CapturedLog();
    const pool = createPool(db.appUrl, { applicationName: 'beecastle-test-outage' });
    const writer = new RequestLogWriter(pool, { log, flushIntervalMs: 20, batchSize: 5 });
    const organisationId = randomUUID();
    try {
      await asSuperuser(async (su) => {
        await su.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
        await su.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND application_name = 'beecastle-test-outage'`,
          [db.name],
        );
      });
      for (let i = 0; i < 12; i += 1) writer.record(entry({ organisationId }));
      await eventually(() =>
        Promise.resolve(log.lines.some((l) => /cannot write/.test(l.message))),
      );
      expect(writer.buffered).toBe(12);
    } finally {
      await asSuperuser((su) => su.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`));
    }
    try {
      await eventually(async () => (await tenantRows(organisationId)).length === 12);
      await eventually(() => Promise.resolve(log.lines.some((l) => /again/.test(l.message))));
    } finally {
      await writer.close();
      await pool.end();
    }
    expect(log.lines.filter((l) => /dropped|lost/.test(l.message))).toEqual([]);
  });

  it('drops and reports a group the database refuses for its values, and writes the others', async () => {
    const log = new CapturedLog();
    const [good, bad] = [randomUUID(), randomUUID()];
    const writer = new RequestLogWriter(db.app, { log, flushIntervalMs: 60_000 });
    writer.record(entry({ organisationId: bad, status: 70_000 })); // beyond smallint
    writer.record(entry({ organisationId: good }));
    await writer.close();
    expect(await tenantRows(good)).toHaveLength(1);
    expect(await tenantRows(bad)).toHaveLength(0);
    expect(log.lines).toEqual([
      {
        level: 'error',
        fields: expect.objectContaining({ dropped: 1, organisationId: bad }),
        message: expect.stringMatching(/refused records/),
      },
    ]);
  });
});
