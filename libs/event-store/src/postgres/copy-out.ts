import type { Pool, Submittable } from 'pg';
import type { Queryable } from './event-rows';

type Callback = (error: Error | null, result?: Buffer) => void;

const INITIAL_CAPACITY = 64 * 1024;

/**
 * Runs `COPY (...) TO STDOUT` and collects its output as raw bytes: node-postgres hands CopyData
 * messages over as buffers, where it would decode every field of a DataRow into a string.
 *
 * A Submittable (the interface pg-cursor and pg-query-stream use). `pool.query` sets `callback`
 * and releases the connection when it is called; on a client we set it ourselves.
 */
class CopyOutQuery implements Submittable {
  callback: Callback | undefined;
  private buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
  private length = 0;

  constructor(private readonly text: string) {}

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    // The chunk is a view of node-postgres's read buffer, which is reused: copy it now.
    const chunk = message.chunk;
    const needed = this.length + chunk.length;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.length);
    this.length = needed;
  }

  handleError(error: Error): void {
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    this.callback?.(null, this.buffer.subarray(0, this.length));
  }

  // The remaining messages carry nothing a COPY needs.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('not a COPY TO');
  }
}

export function isPool(db: Queryable): db is Pool {
  return 'idleCount' in db;
}

/** The bytes `text` (a `COPY ... TO STDOUT`, no parameters) sends. */
export function copyOut(db: Queryable, text: string): Promise<Buffer> {
  const query = new CopyOutQuery(text);
  // The typings say pool.query returns the Submittable; it returns the promise of its callback.
  if (isPool(db)) return db.query(query) as unknown as Promise<Buffer>;
  return new Promise((resolve, reject) => {
    query.callback = (error, result) => (error ? reject(error) : resolve(result!));
    db.query(query);
  });
}
