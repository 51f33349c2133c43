import type { Pool, PoolClient, ClientBase } from 'pg';
import type { EventMetadata, RecordedEvent } from '../event-store.port';

/** Anything that runs a query: the store's pool, or one client holding a transaction open. */
export type Queryable = Pool | PoolClient | ClientBase;

/*
 * What every read selects, in the order `decodeEventRow` takes it (queries use rowMode 'array').
 * The server does the cheap conversions so Node does little per row: data comes as base64 (Node
 * decodes it about three times faster than bytea's hex, from a third fewer characters), metadata
 * as UTF-8 text ready for JSON.parse, hashes as hex, recorded_at as epoch milliseconds, and the
 * int8 columns as text, which node-postgres passes through untouched, for one BigInt() each.
 */
export const EVENT_COLUMNS = `
  e.tx_id::text AS tx_id, e.global_seq::text AS global_seq, e.stream_id,
  e.revision::text AS revision, e.event_id, e.type, e.schema_version,
  encode(e.data, 'base64') AS data,
  convert_from(e.metadata, 'UTF8') AS metadata,
  floor(extract(epoch FROM e.recorded_at) * 1000)::int8::text AS recorded_ms,
  encode(e.prev_hash, 'hex') AS prev_hash, encode(e.hash, 'hex') AS hash`;

export function decodeEventRow(row: readonly unknown[], offset = 0): RecordedEvent {
  return {
    position: {
      commit: BigInt(row[offset] as string),
      prepare: BigInt(row[offset + 1] as string),
    },
    streamId: row[offset + 2] as string,
    revision: BigInt(row[offset + 3] as string),
    eventId: row[offset + 4] as string,
    type: row[offset + 5] as string,
    schemaVersion: row[offset + 6] as number,
    data: Buffer.from(row[offset + 7] as string, 'base64'),
    metadata: JSON.parse(row[offset + 8] as string) as EventMetadata,
    recordedAt: new Date(Number(row[offset + 9])),
    prevHash: row[offset + 10] as string,
    hash: row[offset + 11] as string,
  };
}

export function checkMaxCount(maxCount: number | undefined): number {
  if (maxCount === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(maxCount) || maxCount < 0) {
    throw new RangeError(`maxCount must be a non-negative integer, got ${maxCount}`);
  }
  return maxCount;
}
