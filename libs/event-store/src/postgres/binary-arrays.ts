/**
 * Array parameters in PostgreSQL's binary format. node-postgres sends a JS array as a text literal,
 * so each payload travels as hex inside it, which the server then parses character by character:
 * for an append of eight ~700-byte events that was about a tenth of the database's time, besides
 * the hex encoding in Node. A Buffer parameter goes out in binary format instead, and the server
 * reads it with the element type's receive function.
 */

// Element type OIDs (pg_type), fixed since PostgreSQL's first releases.
const BYTEA = 17;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const TEXT = 25;
const UUID = 2950;

const HEADER = 20; // ndim, has-nulls flag, element type, then length and lower bound of the dimension

function encode(elementType: number, elements: readonly (Uint8Array | null)[]): Buffer {
  let size = HEADER;
  let hasNulls = 0;
  for (const element of elements) {
    size += 4 + (element?.length ?? 0);
    if (element === null) hasNulls = 1;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(hasNulls, 4);
  out.writeUInt32BE(elementType, 8);
  out.writeInt32BE(elements.length, 12);
  out.writeInt32BE(1, 16);
  let offset = HEADER;
  for (const element of elements) {
    if (element === null) {
      out.writeInt32BE(-1, offset);
      offset += 4;
    } else {
      out.writeInt32BE(element.length, offset);
      out.set(element, offset + 4);
      offset += 4 + element.length;
    }
  }
  return out;
}

export const byteaArray = (values: readonly Uint8Array[]): Buffer => encode(BYTEA, values);

export const textArray = (values: readonly (string | null)[]): Buffer =>
  encode(
    TEXT,
    values.map((v) => (v === null ? null : Buffer.from(v, 'utf8'))),
  );

/** Lowercase canonical UUIDs (the port validates them before any I/O). */
export const uuidArray = (values: readonly string[]): Buffer =>
  encode(
    UUID,
    values.map((v) => Buffer.from(v.replaceAll('-', ''), 'hex')),
  );

export const int2Array = (values: readonly number[]): Buffer =>
  encode(
    INT2,
    values.map((v) => {
      const b = Buffer.allocUnsafe(2);
      b.writeInt16BE(v);
      return b;
    }),
  );

export const int4Array = (values: readonly number[]): Buffer =>
  encode(
    INT4,
    values.map((v) => {
      const b = Buffer.allocUnsafe(4);
      b.writeInt32BE(v);
      return b;
    }),
  );

export const int8Array = (values: readonly (bigint | null)[]): Buffer =>
  encode(
    INT8,
    values.map((v) => {
      if (v === null) return null;
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(v);
      return b;
    }),
  );
