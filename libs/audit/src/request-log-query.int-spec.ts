import { randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import { createTestDatabase, type TestDatabase } from '../../database/src/testing/test-database';
import type { RequestLogEntry } from './request-log-entry';
import {
  decodeRequestLogCursor,
  encodeRequestLogCursor,
  readRequestLog,
  requestLogCursorScope,
  type RequestLogFilter,
} from './request-log-query';
import { RequestLogWriter } from './request-log-writer';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const silent = { warn: () => undefined, error: () => undefined };

function entry(organisationId: string, at: Date, status = 200): RequestLogEntry {
  return {
    at,
    requestId: randomUUID(),
    clientIp: '198.51.100.4',
    method: 'GET',
    route: '/v1/me',
    status,
    latencyMs: 2,
    organisationId,
    userId: undefined,
    apiKeyId: undefined,
  };
}

/** Every page, as a client following nextCursor would read them (cursors round-tripped). */
async function allPages(organisationId: string, filter: RequestLogFilter, limit: number) {
  const scope = requestLogCursorScope(organisationId, filter);
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 50; pages += 1) {
    const after = cursor === undefined ? undefined : decodeRequestLogCursor(cursor, scope);
    if (typeof after === 'string') throw new Error(after);
    const page = await withOrganisation(db.app, organisationId, (client) =>
      readRequestLog(client, organisationId, filter, limit, after),
    );
    seen.push(...page.items.map((i) => i.requestId));
    if (!page.next) return seen;
    cursor = encodeRequestLogCursor(page.next, scope);
  }
  throw new Error('paging did not end');
}

describe('readRequestLog', () => {
  it('pages newest first through records sharing one timestamp, none twice, none missed', async () => {
    const organisationId = randomUUID();
    const same = new Date('2026-04-01T08:00:00.123Z');
    const entries = [
      entry(organisationId, new Date('2026-04-01T07:59:59.999Z')),
      ...Array.from({ length: 5 }, () => entry(organisationId, same)),
      entry(organisationId, new Date('2026-04-01T08:00:00.124Z'), 404),
    ];
    const writer = new RequestLogWriter(db.app, { log: silent });
    for (const e of entries) writer.record(e);
    // Another organisation's records, at the same moment: never in this one's pages.
    writer.record(entry(randomUUID(), same));
    await writer.close();

    const newestFirst = [entries[6], ...entries.slice(1, 6).reverse(), entries[0]].map(
      (e) => e.requestId,
    );
    for (const limit of [1, 2, 3, 7, 200]) {
      expect(await allPages(organisationId, {}, limit)).toEqual(newestFirst);
    }
    expect(await allPages(organisationId, { status: 404 }, 2)).toEqual([entries[6].requestId]);
    expect(
      await allPages(organisationId, { from: same, to: new Date(same.getTime() + 1) }, 2),
    ).toEqual(newestFirst.slice(1, 6));
  });

  it('shows nothing of another organisation even when asked for it by id', async () => {
    const [mine, theirs] = [randomUUID(), randomUUID()];
    const writer = new RequestLogWriter(db.app, { log: silent });
    writer.record(entry(theirs, new Date()));
    await writer.close();
    const page = await withOrganisation(db.app, mine, (client) =>
      readRequestLog(client, theirs, {}, 50, undefined),
    );
    expect(page.items).toEqual([]);
  });
});
