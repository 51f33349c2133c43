import { createHash } from 'node:crypto';
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

/**
 * What a cursor is only valid for: one organisation and one set of filters (not the page size,
 * which may change between pages). A digest, so the cursor shows neither. It needs no secret:
 * a forged cursor can only name a position in the caller's own organisation's log, which row-level
 * security confines the query to anyway; the binding is there to refuse a cursor that would
 * silently page a different question.
 */
export function requestLogCursorScope(organisationId: string, filter: RequestLogFilter): string {
  const canonical = JSON.stringify([
    organisationId,
    filter.userId ?? null,
    filter.ip ?? null,
    filter.status ?? null,
    filter.from?.toISOString() ?? null,
    filter.to?.toISOString() ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

export function encodeRequestLogCursor(position: RequestLogPosition, scope: string): string {
  return Buffer.from(JSON.stringify({ a: position.at, i: position.id, s: scope })).toString(
    'base64url',
  );
}

const CURSOR_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const CURSOR_ID = /^[1-9]\d{0,17}$/;

/** The position a cursor names; `malformed` or `other-query` when it is not for this query. */
export function decodeRequestLogCursor(
  cursor: string,
  scope: string,
): RequestLogPosition | 'malformed' | 'other-query' {
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,300}$/.test(cursor)) return 'malformed';
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return 'malformed';
  }
  const { a, i, s } = (decoded ?? {}) as { a?: unknown; i?: unknown; s?: unknown };
  if (typeof a !== 'string' || typeof i !== 'string' || typeof s !== 'string') return 'malformed';
  if (!CURSOR_AT.test(a) || !CURSOR_ID.test(i)) return 'malformed';
  if (s !== scope) return 'other-query';
  return { at: a, id: i };
}
