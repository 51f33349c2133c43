import { StreamNotFoundError } from '../errors';
import type {
  EventFilter,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
} from '../event-store.port';
import { MAX_PREPARE, type Position } from '../position';
import { parseStreamName } from '../stream-name';
import { escapeLiteral } from 'pg';
import { copyOut } from './copy-out';
import {
  CopyReader,
  EVENT_COLUMNS,
  EVENT_COPY_COLUMNS,
  checkMaxCount,
  decodeEventCopy,
  decodeEventRow,
  type Queryable,
} from './event-rows';
import { waitUntilCommittedVisible } from './snapshot-horizon';

const MAX_REVISION = MAX_PREPARE; // both are PostgreSQL bigints
const MAX_XID8 = 18_446_744_073_709_551_615n;

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

/**
 * One page of the global log in one statement: only rows of transactions below the snapshot's
 * xmin (all ended, so nothing can appear among them any more), keyset-paged on (tx_id,
 * global_seq). `after` is exclusive. The first column of every row is that xmin; an empty page is
 * one row of nulls carrying it.
 *
 * A binary COPY: node-postgres turns every field of a row into a string, while COPY output
 * arrives as raw bytes (see copy-out.ts). COPY takes no parameters, so the values are literals,
 * quoted by node-postgres's escapeLiteral; planning each page costs the server far less than the
 * client saves.
 */
function pageCopy(
  after: Position,
  backwards: boolean,
  filter: EventFilter | undefined,
  limit: number,
): string {
  // Positions are bigints: their decimal text needs no escaping.
  const commit = `'${after.commit}'::xid8`;
  const prepare = `'${after.prepare}'::int8`;
  const comparison = backwards ? '<' : '>';
  const order = backwards ? 'DESC' : 'ASC';
  let conditions: string[];
  let orderBy: string;
  if (filter?.organisationId !== undefined) {
    // Spelled with org_id leading every row comparison, so the whole condition is an index
    // condition on (org_id, tx_id, global_seq) and the planner cannot prefer a filtered walk of
    // the global index, which is slow for a small organisation in a large log.
    const org = `${escapeLiteral(filter.organisationId)}::uuid`;
    conditions = [
      `e.org_id = ${org}`,
      `(e.org_id, e.tx_id) < (${org}, h.xmin)`,
      `(e.org_id, e.tx_id, e.global_seq) ${comparison} (${org}, ${commit}, ${prepare})`,
    ];
    orderBy = `e.org_id ${order}, e.tx_id ${order}, e.global_seq ${order}`;
  } else {
    conditions = [
      `e.tx_id < h.xmin`,
      `(e.tx_id, e.global_seq) ${comparison} (${commit}, ${prepare})`,
    ];
    orderBy = `e.tx_id ${order}, e.global_seq ${order}`;
  }
  if (filter?.eventTypes !== undefined) {
    const types = filter.eventTypes.map((type) => escapeLiteral(type)).join(', ');
    conditions.push(`e.type = ANY (ARRAY[${types}]::text[])`);
  }
  return `COPY (
    SELECT h.xmin, page.*
      FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS h
      LEFT JOIN LATERAL (
        SELECT ${EVENT_COPY_COLUMNS} FROM events AS e
         WHERE ${conditions.join(' AND ')}
         ORDER BY ${orderBy} LIMIT ${limit}) AS page ON true
  ) TO STDOUT (FORMAT binary)`;
}

export interface LogPage {
  readonly events: RecordedEvent[];
  /** pg_snapshot_xmin of the page's snapshot: every transaction below it has ended. */
  readonly horizon: bigint;
}

/**
 * One page's COPY output, walked but not decoded: its size, last position and horizon are known,
 * so a subscription can ask for the next page before it decodes this one (decodePage).
 */
export interface RawLogPage {
  readonly buffer: Buffer;
  readonly count: number;
  readonly last: Position | undefined;
  readonly horizon: bigint;
}

const EVENT_FIELDS = 12; // EVENT_COPY_COLUMNS

async function readRawPage(
  db: Queryable,
  after: Position,
  backwards: boolean,
  filter: EventFilter | undefined,
  limit: number,
): Promise<RawLogPage> {
  const buffer = await copyOut(db, pageCopy(after, backwards, filter, limit));
  const reader = new CopyReader(buffer);
  let count = 0;
  let lastRow = -1;
  let horizon: bigint | undefined;
  while (reader.nextRow() !== -1) {
    horizon = reader.uint64();
    if (reader.nextIsNull()) continue;
    lastRow = reader.offset;
    reader.skipFields(EVENT_FIELDS);
    count += 1;
  }
  if (horizon === undefined) throw new Error('A log page without its horizon');
  let last: Position | undefined;
  if (lastRow >= 0) {
    reader.offset = lastRow;
    last = { commit: reader.uint64(), prepare: reader.int64() };
  }
  return { buffer, count, last, horizon };
}

export function decodePage(page: RawLogPage): RecordedEvent[] {
  const reader = new CopyReader(page.buffer);
  const events: RecordedEvent[] = [];
  while (reader.nextRow() !== -1) {
    reader.skipFields(1); // the horizon
    if (!reader.nextIsNull()) events.push(decodeEventCopy(reader));
  }
  return events;
}

async function readPage(
  db: Queryable,
  after: Position,
  backwards: boolean,
  filter: EventFilter | undefined,
  limit: number,
): Promise<LogPage> {
  const raw = await readRawPage(db, after, backwards, filter, limit);
  return { events: decodePage(raw), horizon: raw.horizon };
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
    const page = await readPage(db, after, backwards, options.filter, limit);
    for (const event of page.events) events.push(event);
    remaining -= page.events.length;
    if (page.events.length < limit) break;
    after = events[events.length - 1].position;
  }
  return events;
}

export function readSubscriptionPage(
  db: Queryable,
  after: Position,
  filter: EventFilter | undefined,
  limit: number,
): Promise<RawLogPage> {
  return readRawPage(db, after, false, filter, limit);
}
