import { withOrganisation } from '@beecastle/database';
import type { Pool } from 'pg';
import type { RequestLogEntry, RequestLogSink } from './request-log-entry';

/** What the writer says about itself; pino's Logger fits. */
export interface RequestLogWriterLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface RequestLogWriterOptions {
  readonly log: RequestLogWriterLog;
  /** How often buffered records are written (ms). */
  readonly flushIntervalMs?: number;
  /** Records per batch; a full batch is written at once, without waiting for the interval. */
  readonly batchSize?: number;
  /** Records kept while the database cannot take them; beyond this, new ones are dropped. */
  readonly maxBuffered?: number;
  /** At most one "records dropped" line per this many ms while dropping goes on. */
  readonly dropReportIntervalMs?: number;
}

export const REQUEST_LOG_WRITER_DEFAULTS = {
  flushIntervalMs: 200,
  batchSize: 500,
  maxBuffered: 50_000,
  dropReportIntervalMs: 10_000,
} as const;

// One statement per batch whatever its size: arrays, not a parameter per value, so the plan is
// prepared once and a 500-row batch is one round trip.
const TENANT_INSERT = `
  INSERT INTO request_log
    (org_id, at, request_id, client_ip, method, route, status, latency_ms, user_id, api_key_id)
  SELECT $1::uuid, * FROM unnest($2::timestamptz[], $3::text[], $4::inet[], $5::text[], $6::text[],
                                 $7::smallint[], $8::real[], $9::uuid[], $10::uuid[])`;
const UNATTRIBUTED_INSERT = `
  INSERT INTO request_log_unattributed
    (at, request_id, client_ip, method, route, status, latency_ms)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::inet[], $4::text[], $5::text[],
                       $6::smallint[], $7::real[])`;

function columns(entries: readonly RequestLogEntry[]): unknown[] {
  return [
    entries.map((e) => e.at.toISOString()),
    entries.map((e) => e.requestId),
    entries.map((e) => e.clientIp ?? null),
    entries.map((e) => e.method),
    entries.map((e) => e.route ?? null),
    entries.map((e) => e.status),
    entries.map((e) => e.latencyMs),
  ];
}

/**
 * A value the database refuses whatever the moment (SQLSTATE classes 22 data exception, 23
 * integrity violation): retrying cannot help, so such a group is dropped and reported rather
 * than blocking every record behind it. Anything else (connection refused, timeouts, restarts)
 * is retried.
 */
function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

/**
 * The request log's database writer: off the request's path and bounded. `record` only appends
 * to an in-memory buffer; a timer writes it in batches, one multi-row INSERT per organisation
 * (each in its own withOrganisation transaction, so row-level security checks every row) and one
 * for the unattributed requests. While the database is unavailable records wait, up to
 * `maxBuffered`; beyond that new ones are dropped and the count is logged: a request is never
 * slowed or failed for its log record. `close` writes everything left before the pool closes.
 */
export class RequestLogWriter implements RequestLogSink {
  private readonly log: RequestLogWriterLog;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly dropReportIntervalMs: number;
  private buffer: RequestLogEntry[] = [];
  /** Taken from the buffer by the write under way; back at its front if the write fails. */
  private writing = 0;
  private draining: Promise<boolean> | undefined;
  private readonly timer: NodeJS.Timeout;
  private failing = false;
  private dropped = 0;
  private droppedReportedAt = 0;
  private closed = false;

  constructor(
    private readonly pool: Pool,
    options: RequestLogWriterOptions,
  ) {
    this.log = options.log;
    this.batchSize = options.batchSize ?? REQUEST_LOG_WRITER_DEFAULTS.batchSize;
    this.maxBuffered = options.maxBuffered ?? REQUEST_LOG_WRITER_DEFAULTS.maxBuffered;
    this.dropReportIntervalMs =
      options.dropReportIntervalMs ?? REQUEST_LOG_WRITER_DEFAULTS.dropReportIntervalMs;
    const interval = options.flushIntervalMs ?? REQUEST_LOG_WRITER_DEFAULTS.flushIntervalMs;
    this.timer = setInterval(() => void this.drain(), interval);
    // The timer alone must not keep a process alive; close() is what writes the last records.
    this.timer.unref();
  }

  /** Records not written yet, including those of a write under way. */
  get buffered(): number {
    return this.buffer.length + this.writing;
  }

  record(entry: RequestLogEntry): void {
    if (this.closed) {
      // Only a request that outlived the HTTP server's close could get here.
      this.log.error({ dropped: 1, requestId: entry.requestId }, 'request log: record after close');
      return;
    }
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped += 1;
      this.reportDrops(false);
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= this.batchSize && !this.failing) void this.drain();
  }

  /** Writes what is buffered now; resolves false if the database refused to take it all. */
  async flush(): Promise<boolean> {
    await this.draining;
    return this.drain();
  }

  /**
   * Stops the timer and writes everything buffered. Called after the HTTP server has closed (no
   * record can arrive any more) and before the pool closes. If the database cannot take the
   * records, says how many are lost rather than holding shutdown up.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    const written = await this.flush();
    this.closed = true;
    if (!written && this.buffer.length > 0) {
      this.log.error(
        { lost: this.buffer.length },
        'request log: the database could not take the last records before shutdown; they are lost',
      );
      this.buffer = [];
    }
    this.reportDrops(true);
  }

  /** One drain at a time: a timer tick during a slow write does not start a second one. */
  private drain(): Promise<boolean> {
    this.draining ??= this.writeAll().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async writeAll(): Promise<boolean> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      this.writing = batch.length;
      const retry = await this.writeBatch(batch).finally(() => {
        this.writing = 0;
      });
      if (retry.length > 0) {
        // Back at the front, in order; the newest go if that overfills the buffer.
        this.buffer = retry.concat(this.buffer);
        if (this.buffer.length > this.maxBuffered) {
          this.dropped += this.buffer.length - this.maxBuffered;
          this.buffer.length = this.maxBuffered;
        }
        this.reportDrops(false);
        return false;
      }
    }
    if (this.failing) {
      this.failing = false;
      this.log.warn({}, 'request log: the database takes records again');
    }
    this.reportDrops(true);
    return true;
  }

  /** Writes one batch, one statement per organisation; returns the records to try again. */
  private async writeBatch(batch: readonly RequestLogEntry[]): Promise<RequestLogEntry[]> {
    const groups = new Map<string | undefined, RequestLogEntry[]>();
    for (const entry of batch) {
      const group = groups.get(entry.organisationId);
      if (group) group.push(entry);
      else groups.set(entry.organisationId, [entry]);
    }
    const pending = [...groups];
    while (pending.length > 0) {
      const [organisationId, entries] = pending[0];
      try {
        await this.insert(organisationId, entries);
      } catch (error) {
        if (!isPermanent(error)) {
          if (!this.failing) {
            this.failing = true;
            this.log.error(
              { buffered: this.buffer.length + batch.length, error: String(error) },
              'request log: cannot write to the database; keeping records until it can',
            );
          }
          // The database is unreachable for all of them: try again on a later tick, in order.
          return pending.flatMap(([, rest]) => rest);
        }
        this.log.error(
          { dropped: entries.length, organisationId, error: String(error) },
          'request log: the database refused records; they are dropped',
        );
      }
      pending.shift();
    }
    return [];
  }

  private async insert(
    organisationId: string | undefined,
    entries: readonly RequestLogEntry[],
  ): Promise<void> {
    if (organisationId === undefined) {
      await this.pool.query(UNATTRIBUTED_INSERT, columns(entries));
      return;
    }
    await withOrganisation(this.pool, organisationId, (client) =>
      client.query(TENANT_INSERT, [
        organisationId,
        ...columns(entries),
        entries.map((e) => e.userId ?? null),
        entries.map((e) => e.apiKeyId ?? null),
      ]),
    );
  }

  private reportDrops(now: boolean): void {
    if (this.dropped === 0) return;
    const time = Date.now();
    if (!now && time - this.droppedReportedAt < this.dropReportIntervalMs) return;
    this.log.error(
      { dropped: this.dropped, maxBuffered: this.maxBuffered },
      'request log: records dropped (the database was unavailable and the buffer full)',
    );
    this.dropped = 0;
    this.droppedReportedAt = time;
  }
}
