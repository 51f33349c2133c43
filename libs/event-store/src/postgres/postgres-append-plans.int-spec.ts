import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { newContactStream, newEvents } from '../contract/test-events';
import type { EventStore } from '../event-store.port';
import { usePostgresTestStore } from './testing/postgres-test-store';

jest.setTimeout(60_000);

/**
 * The append functions' plans must not depend on what the tables held when they were planned.
 * PL/pgSQL keeps a generic plan per statement and session after a few calls; made while a fresh
 * database's tables were tiny, it used to scan the heads and the log whole, so that every append
 * cost more as the log grew (LeanerAppends migration). A sequential scan of either table, counted
 * by PostgreSQL, is therefore a failure here, whatever it costs today.
 */
describe('PostgreSQL appends on a fresh database', () => {
  const t = usePostgresTestStore();

  async function sequentialScans(session: PoolClient): Promise<Record<string, string>> {
    // Statistics reach the shared counters in batches: send this session's now.
    await session.query('SELECT pg_stat_force_next_flush()');
    await session.query('SELECT 1');
    const { rows } = await t.db.owner.query<{ relname: string; seq_scan: string }>(
      `SELECT relname, seq_scan::text FROM pg_stat_user_tables
        WHERE relname IN ('events', 'streams') ORDER BY relname`,
    );
    return Object.fromEntries(rows.map((r) => [r.relname, r.seq_scan]));
  }

  /** Every kind of append the functions take: new streams, existing ones, exact retries. */
  async function appendEveryWay(store: EventStore, organisationId: string): Promise<void> {
    const [a, b, c] = [1, 2, 3].map(() => newContactStream(organisationId));
    const first = newEvents(organisationId, 2);
    await store.appendToStream(a, first, { expectedRevision: 'no_stream' });
    await store.appendToStream(a, first, { expectedRevision: 'no_stream' });
    await store.appendToStream(a, newEvents(organisationId, 1), { expectedRevision: 1n });
    const lone = newEvents(organisationId, 1);
    await store.appendToStream(b, lone, { expectedRevision: 'any' });
    await store.appendToStream(b, lone, { expectedRevision: 'any' });
    await store.appendToStream(b, newEvents(organisationId, 1), { expectedRevision: 0n });
    const several = [
      { stream: a, events: newEvents(organisationId, 1), expectedRevision: 2n },
      { stream: b, events: newEvents(organisationId, 2), expectedRevision: 'any' as const },
      { stream: c, events: newEvents(organisationId, 1), expectedRevision: 'no_stream' as const },
    ];
    await store.appendToStreams(several);
    await store.appendToStreams(several);
  }

  it('never scan the heads or the log whole, however small they were when planned', async () => {
    const session = await t.db.app.connect();
    try {
      const store = t.store.withClient(session);
      const organisationId = randomUUID();
      // Enough calls on one session for every statement to get its generic plan, while the
      // tables hold a few rows.
      for (let i = 0; i < 8; i += 1) await appendEveryWay(store, organisationId);
      const before = await sequentialScans(session);

      for (let i = 0; i < 8; i += 1) await appendEveryWay(store, organisationId);

      expect(await sequentialScans(session)).toEqual(before);
    } finally {
      session.release();
    }
  });
});
