import { cursorScope, KeysetCursorCodec, type CursorRefusal } from '@beecastle/database';
import type { ClientBase } from 'pg';

/** The filters of `GET /v1/audit/requests`, already validated. */
export interface RequestLogFilter {
  readonly userId?: string;
  readonly ip?: string;
  readonly status?: number;
  /** Inclusive. */
  readonly from?: Date;
  /** Exclusive. */
  readonly to?: Date;
}

/** A record's place in the newest-first order: its time (to the microsecond) and row id. */
export interface RequestLogPosition {
  readonly at: string;
  readonly id: string;
}

export interface RequestLogItem {
  readonly at: string;
  readonly requestId: string;
  readonly clientIp: string | null;
  readonly method: string;
  readonly route: string | null;
  readonly status: number;
  readonly latencyMs: number;
  readonly userId: string | null;
  readonly apiKeyId: string | null;
}

export interface RequestLogPage {
  readonly items: RequestLogItem[];
  /** Where the next page starts, when there is one. */
  readonly next: RequestLogPosition | undefined;
}

interface RequestLogRow {
  id: string;
  at: Date;
  at_key: string;
  request_id: string;
  client_ip: string | null;
  method: string;
  route: string | null;
  status: number;
  latency_ms: number;
  user_id: string | null;
  api_key_id: string | null;
}

/**
 * One page of an organisation's request log, newest first ((at, id) descending: the index
 * `request_log_org_at` read backwards), resuming strictly after `after`. Runs on a client inside
 * withOrganisation, so row-level security holds whatever the arguments say.
 */
export async function readRequestLog(
  client: ClientBase,
  organisationId: string,
  filter: RequestLogFilter,
  limit: number,
  after: RequestLogPosition | undefined,
): Promise<RequestLogPage> {
  const result = await client.query<RequestLogRow>(
    `SELECT id::text, at, request_id, host(client_ip) AS client_ip, method, route, status,
            latency_ms, user_id, api_key_id,
            to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_key
       FROM request_log
      WHERE org_id = $1
        AND ($2::uuid IS NULL OR user_id = $2)
        AND ($3::inet IS NULL OR client_ip = $3)
        AND ($4::smallint IS NULL OR status = $4)
        AND ($5::timestamptz IS NULL OR at >= $5)
        AND ($6::timestamptz IS NULL OR at < $6)
        AND ($7::timestamptz IS NULL OR (at, id) < ($7, $8::bigint))
      ORDER BY at DESC, id DESC
      LIMIT $9`,
    [
      organisationId,
      filter.userId ?? null,
      filter.ip ?? null,
      filter.status ?? null,
      filter.from?.toISOString() ?? null,
      filter.to?.toISOString() ?? null,
      after?.at ?? null,
      after?.id ?? null,
      limit + 1,
    ],
  );
  const rows = result.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    items: rows.map((r) => ({
      at: r.at.toISOString(),
      requestId: r.request_id,
      clientIp: r.client_ip,
      method: r.method,
      route: r.route,
      status: r.status,
      latencyMs: r.latency_ms,
      userId: r.user_id,
      apiKeyId: r.api_key_id,
    })),
    next: result.rows.length > limit && last ? { at: last.at_key, id: last.id } : undefined,
  };
}

// ---- cursors ------------------------------------------------------------------------------------

/** What a request-log cursor is only valid for: one organisation and one set of filters. */
export function requestLogCursorScope(organisationId: string, filter: RequestLogFilter): string {
  return cursorScope([
    organisationId,
    filter.userId ?? null,
    filter.ip ?? null,
    filter.status ?? null,
    filter.from?.toISOString() ?? null,
    filter.to?.toISOString() ?? null,
  ]);
}

// a: the record's time to the microsecond; i: its row id.
const REQUEST_LOG_CURSOR = new KeysetCursorCodec({
  a: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
  i: /^[1-9]\d{0,17}$/,
});

export function encodeRequestLogCursor(position: RequestLogPosition, scope: string): string {
  return REQUEST_LOG_CURSOR.encode({ a: position.at, i: position.id }, scope);
}

/** The position a cursor names; `malformed` or `other-query` when it is not for this query. */
export function decodeRequestLogCursor(
  cursor: string,
  scope: string,
): RequestLogPosition | CursorRefusal {
  const decoded = REQUEST_LOG_CURSOR.decode(cursor, scope);
  return typeof decoded === 'string' ? decoded : { at: decoded.a, id: decoded.i };
}
