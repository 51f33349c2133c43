import { StreamNotFoundError } from '../errors';
import type {
  EventFilter,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
} from '../event-store.port';
import { MAX_PREPARE, type Position } from '../position';
import { parseStreamName } from '../stream-name';
import { EVENT_COLUMNS, checkMaxCount, decodeEventRow, type Queryable } from './event-rows';
import { waitUntilCommittedVisible } from './snapshot-horizon';

const MAX_REVISION = MAX_PREPARE; // both are PostgreSQL bigints
const MAX_XID8 = 18_446_744_073_709_551_615n;

/*
 * Every statement below is prepared once per connection under a name derived from its shape
 * (direction and filter), so a generic plan can still use the index that fits the filter.
 */

export async function readStreamEvents(
  db: Queryable,
  stream: string,
  options: ReadStreamOptions,
  pageSize: number,
): Promise<RecordedEvent[]> {
  parseStreamName(stream);
  const backwards = options.direction === 'backwards';
  let remaining = checkMaxCount(options.maxCount);
  const from = options.fromRevision ?? (backwards ? 'end' : 'start');
  let next: bigint;
  if (from === 'start') next = 0n;
  else if (from === 'end') next = backwards ? MAX_REVISION : -1n;
  else next = !backwards && from < 0n ? 0n : from;
  const events: RecordedEvent[] = [];
  // Forwards from 'end' reads nothing, but the stream must still exist.
  while (remaining > 0 && next >= 0n) {
    const limit = Math.min(pageSize, remaining);
    const { rows } = await db.query<unknown[]>({
      name: backwards ? 'bc_read_stream_backwards' : 'bc_read_stream_forwards',
      text: `SELECT ${EVENT_COLUMNS} FROM events AS e
              WHERE e.stream_id = $1 AND e.revision ${backwards ? '<=' : '>='} $2
              ORDER BY e.revision ${backwards ? 'DESC' : 'ASC'} LIMIT $3`,
      values: [stream, next.toString(), limit],
      rowMode: 'array',
    });
    for (const row of rows) events.push(decodeEventRow(row));
    remaining -= rows.length;
    if (rows.length < limit) break;
    const last = events[events.length - 1].revision;
    next = backwards ? last - 1n : last + 1n;
  }
  if (events.length === 0 && !(await streamExists(db, stream))) {
    throw new StreamNotFoundError(stream);
  }
  return events;
}

async function streamExists(db: Queryable, stream: string): Promise<boolean> {
  const { rows } = await db.query<unknown[]>({
    name: 'bc_stream_exists',
    text: 'SELECT 1 FROM events WHERE stream_id = $1 LIMIT 1',
    values: [stream],
    rowMode: 'array',
  });
  return rows.length > 0;
}

interface PageQuery {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

/**
 * One page of the global log in one statement: only rows of transactions below the snapshot's
 * xmin (all ended, so nothing can still appear among them), keyset-paged on (tx_id, global_seq).
 * `after` is exclusive. With `withHorizon`, the first column of every row is that xmin, and an
 * empty page is one row of nulls carrying it.
 */
function pageQuery(
  after: Position,
  backwards: boolean,
  filter: EventFilter | undefined,
  limit: number,
  withHorizon: boolean,
): PageQuery {
  const values: unknown[] = [after.commit.toString(), after.prepare.toString(), limit];
  const xmin = withHorizon ? 'h.xmin' : 'pg_snapshot_xmin(pg_current_snapshot())';
  const comparison = backwards ? '<' : '>';
  const order = backwards ? 'DESC' : 'ASC';
  let shape = `${backwards ? 'b' : 'f'}${withHorizon ? 'h' : ''}`;
  let conditions: string[];
  let orderBy: string;
  if (filter?.organisationId !== undefined) {
    // Spelled with org_id leading every row comparison, so the whole condition is an index
    // condition on (org_id, tx_id, global_seq) and the planner cannot prefer a filtered walk of
    // the global index, which is slow for a small organisation in a large log.
    values.push(filter.organisationId);
    const org = `$${values.length}::uuid`;
    conditions = [
      `e.org_id = ${org}`,
      `(e.org_id, e.tx_id) < (${org}, ${xmin})`,
      `(e.org_id, e.tx_id, e.global_seq) ${comparison} (${org}, $1::xid8, $2::int8)`,
    ];
    orderBy = `e.org_id ${order}, e.tx_id ${order}, e.global_seq ${order}`;
    shape += 'o';
  } else {
    conditions = [
      `e.tx_id < ${xmin}`,
      `(e.tx_id, e.global_seq) ${comparison} ($1::xid8, $2::int8)`,
    ];
    orderBy = `e.tx_id ${order}, e.global_seq ${order}`;
  }
  if (filter?.eventTypes !== undefined) {
    values.push(filter.eventTypes);
    conditions.push(`e.type = ANY($${values.length}::text[])`);
    shape += 't';
  }
  const select = `SELECT ${EVENT_COLUMNS} FROM events AS e
                   WHERE ${conditions.join(' AND ')}
                   ORDER BY ${orderBy} LIMIT $3`;
  const text = withHorizon
    ? `SELECT h.xmin::text, page.*
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS h
         LEFT JOIN LATERAL (${select}) AS page ON true`
    : select;
  return { name: `bc_read_all_${shape}`, text, values };
}

/**
 * `inFlightWaitMs`: how long to wait for older transactions that still hide events committed
 * before the call (see snapshot-horizon.ts); 0 inside a caller's transaction, which would only be
 * waiting for itself.
 */
export async function readAllEvents(
  db: Queryable,
  options: ReadAllOptions,
  pageSize: number,
  inFlightWaitMs: number,
): Promise<RecordedEvent[]> {
  const backwards = options.direction === 'backwards';
  let remaining = checkMaxCount(options.maxCount);
  const from = options.fromPosition ?? (backwards ? 'end' : 'start');
  if (from === (backwards ? 'start' : 'end')) return [];
  await waitUntilCommittedVisible(db, inFlightWaitMs);
  // The keyset condition is exclusive; an inclusive start is the point just before it.
  let after: Position;
  if (from === 'start') after = { commit: 0n, prepare: 0n };
  else if (from === 'end') after = { commit: MAX_XID8, prepare: MAX_PREPARE };
  else if (!backwards) after = { commit: from.commit, prepare: from.prepare - 1n };
  else if (from.prepare < MAX_PREPARE) after = { commit: from.commit, prepare: from.prepare + 1n };
  else after = { commit: from.commit + 1n, prepare: 0n };
  if (after.commit > MAX_XID8) after = { commit: MAX_XID8, prepare: MAX_PREPARE };

  const events: RecordedEvent[] = [];
  while (remaining > 0) {
    const limit = Math.min(pageSize, remaining);
    const query = pageQuery(after, backwards, options.filter, limit, false);
    const { rows } = await db.query<unknown[]>({ ...query, rowMode: 'array' });
    for (const row of rows) events.push(decodeEventRow(row));
    remaining -= rows.length;
    if (rows.length < limit) break;
    after = events[events.length - 1].position;
  }
  return events;
}

export interface SubscriptionPage {
  readonly events: RecordedEvent[];
  /** pg_snapshot_xmin of the page's snapshot: every transaction below it has ended. */
  readonly horizon: bigint;
}

export async function readSubscriptionPage(
  db: Queryable,
  after: Position,
  filter: EventFilter | undefined,
  limit: number,
): Promise<SubscriptionPage> {
  const query = pageQuery(after, false, filter, limit, true);
  const { rows } = await db.query<unknown[]>({ ...query, rowMode: 'array' });
  const events: RecordedEvent[] = [];
  for (const row of rows) if (row[1] !== null) events.push(decodeEventRow(row, 1));
  return { events, horizon: BigInt(rows[0][0] as string) };
}
