import { Pool, type PoolConfig } from 'pg';

export interface PoolOptions {
  readonly applicationName: string;
  readonly max?: number;
  /**
   * Each connection sends its queued statements at once instead of one per answer (node-postgres
   * pipeline mode): statements queued together share a round trip. Not for cursors or COPY.
   */
  readonly pipeline?: boolean;
}

/** A pool for one role. Statement timeouts keep a stuck query from holding the log's xmin back. */
export function createPool(url: string, options: PoolOptions): Pool {
  const config: PoolConfig = {
    connectionString: url,
    application_name: options.applicationName,
    max: options.max ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    idle_in_transaction_session_timeout: 60_000,
    ...(options.pipeline ? { pipeline: true } : {}),
  };
  const pool = new Pool(config);
  // An idle client that loses its connection must not crash the process; the next checkout retries.
  pool.on('error', () => undefined);
  return pool;
}
