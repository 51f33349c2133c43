import type { Pool, PoolClient, ClientBase } from 'pg';
import type { EventMetadata, RecordedEvent } from '../event-store.port';

/** Anything that runs a query: the store's pool, or one client holding a transaction open. */
export type Queryable = Pool | PoolClient | ClientBase;

/*
 * What a stream read selects, in the order `decodeEventRow` takes it (rowMode 'array'). Reads of
 * the global log use binary COPY instead (EVENT_COPY_COLUMNS).
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

/*
 * The same twelve columns for `COPY ... TO STDOUT (FORMAT binary)`: every value comes in its
 * binary send format (int8s and timestamptz as 8-byte integers, text and bytea as their raw
 * bytes), so the server encodes no payload and Node decodes no text per field but the strings it
 * returns. The event id comes as text: one string in Node rather than hex and five slices.
 */
export const EVENT_COPY_COLUMNS = `e.tx_id, e.global_seq, e.stream_id, e.revision, e.event_id::text,
  e.type, e.schema_version, e.data, e.metadata, e.recorded_at, e.prev_hash, e.hash`;

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
// timestamptz is microseconds since 2000-01-01 UTC.
const PG_EPOCH_MS = 946_684_800_000;
const TWO_TO_32 = 4_294_967_296;

/** A reader over one binary COPY output; see the PostgreSQL COPY documentation for the layout. */
export class CopyReader {
  /** Where the next value starts; a caller may come back to a place it noted. */
  offset: number;

  constructor(private readonly buffer: Buffer) {
    if (buffer.length < 19 || !COPY_SIGNATURE.equals(buffer.subarray(0, 11))) {
      throw new Error('Not a binary COPY output');
    }
    this.offset = 19 + buffer.readInt32BE(15); // after the flags and the header extension
  }

  /** The next row's field count, or -1 at the end. */
  nextRow(): number {
    const fields = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return fields;
  }

  /** Whether the next field is NULL (then skips it). */
  nextIsNull(): boolean {
    if (this.buffer.readInt32BE(this.offset) !== -1) return false;
    this.offset += 4;
    return true;
  }

  private field(size?: number): number {
    const length = this.buffer.readInt32BE(this.offset);
    const fits = this.offset + 4 + length <= this.buffer.length;
    if (length < 0 || !fits || (size !== undefined && length !== size)) {
      throw new Error(`Unexpected binary COPY field of length ${length}`);
    }
    this.offset += 4 + length;
    return length;
  }

  /** Skips `count` fields without decoding them. */
  skipFields(count: number): void {
    for (let i = 0; i < count; i++) {
      const length = this.buffer.readInt32BE(this.offset);
      this.offset += length < 0 ? 4 : 4 + length;
    }
    if (this.offset > this.buffer.length) throw new Error('Truncated binary COPY output');
  }

  uint64(): bigint {
    this.field(8);
    return this.buffer.readBigUInt64BE(this.offset - 8);
  }

  int64(): bigint {
    this.field(8);
    return this.buffer.readBigInt64BE(this.offset - 8);
  }

  int16(): number {
    this.field(2);
    return this.buffer.readInt16BE(this.offset - 2);
  }

  text(): string {
    const length = this.field();
    return this.buffer.toString('utf8', this.offset - length, this.offset);
  }

  hex(): string {
    const length = this.field();
    return this.buffer.toString('hex', this.offset - length, this.offset);
  }

  /** A copy, so that a kept event does not keep the whole page alive. */
  bytes(): Buffer {
    const length = this.field();
    const bytes = Buffer.allocUnsafe(length);
    this.buffer.copy(bytes, 0, this.offset - length, this.offset);
    return bytes;
  }

  /** A timestamptz, truncated to the millisecond as a Date keeps it. */
  timestamp(): Date {
    this.field(8);
    const at = this.offset - 8;
    const micros = this.buffer.readInt32BE(at) * TWO_TO_32 + this.buffer.readUInt32BE(at + 4);
    return new Date(PG_EPOCH_MS + Math.floor(micros / 1000));
  }
}

/** Decodes the row's next fields, selected by EVENT_COPY_COLUMNS. */
export function decodeEventCopy(reader: CopyReader): RecordedEvent {
  const commit = reader.uint64();
  const prepare = reader.int64();
  const streamId = reader.text();
  const revision = reader.int64();
  const eventId = reader.text();
  const type = reader.text();
  const schemaVersion = reader.int16();
  const data = reader.bytes();
  const metadataText = reader.text();
  return {
    position: { commit, prepare },
    streamId,
    revision,
    eventId,
    type,
    schemaVersion,
    data,
    metadata: JSON.parse(metadataText) as EventMetadata,
    recordedAt: reader.timestamp(),
    prevHash: reader.hex(),
    hash: reader.hex(),
  };
}
