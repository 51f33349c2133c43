import type { Queryable } from './event-rows';

/*
 * Readers of the global log see only transactions below their snapshot's xmin (the horizon), so a
 * transaction that has committed stays hidden while an older one is still running, anywhere in the
 * cluster. To still answer "everything committed before this call", a read notes the newest
 * transaction that had ended when it started and waits, for a bounded time, until the horizon has
 * passed it. Usually nothing has ended above the horizon and there is no wait at all.
 */

export interface Snapshot {
  readonly xmin: bigint;
  /** First transaction id not yet assigned. */
  readonly xmax: bigint;
  /** Transactions in [xmin, xmax) still running when the snapshot was taken. */
  readonly running: ReadonlySet<bigint>;
}

/** Parses `pg_snapshot` text: `xmin:xmax:xip,xip,...`. */
export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(':');
  if (xmin === undefined || xmax === undefined || xip === undefined) {
    throw new Error(`Not a pg_snapshot: ${JSON.stringify(text)}`);
  }
  return {
    xmin: BigInt(xmin),
    xmax: BigInt(xmax),
    running: new Set(xip === '' ? [] : xip.split(',').map((x) => BigInt(x))),
  };
}

/** The newest transaction at or above xmin that had already ended, if there is one. */
export function newestEndedAboveHorizon(snapshot: Snapshot): bigint | undefined {
  // Only ids of running transactions are skipped, so this takes at most that many steps.
  for (let xid = snapshot.xmax - 1n; xid >= snapshot.xmin; xid -= 1n) {
    if (!snapshot.running.has(xid)) return xid;
  }
  return undefined;
}

/** Whether `xid` had ended (committed or not) when the snapshot was taken. */
export function endedBefore(snapshot: Snapshot, xid: bigint): boolean {
  return xid < snapshot.xmin || (xid < snapshot.xmax && !snapshot.running.has(xid));
}

export async function readSnapshot(db: Queryable): Promise<Snapshot> {
  const { rows } = await db.query<unknown[]>({
    text: 'SELECT pg_current_snapshot()::text',
    rowMode: 'array',
  });
  return parseSnapshot(rows[0][0] as string);
}

export async function currentHorizon(db: Queryable): Promise<bigint> {
  const { rows } = await db.query<unknown[]>({
    text: 'SELECT pg_snapshot_xmin(pg_current_snapshot())::text',
    rowMode: 'array',
  });
  return BigInt(rows[0][0] as string);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until every transaction that was running below the newest ended one has ended too, so
 * that a read from now on shows everything committed before the call. Gives up after `timeoutMs`:
 * the read then answers with the consistent prefix below the horizon, as it would without waiting.
 */
export async function waitUntilCommittedVisible(db: Queryable, timeoutMs: number): Promise<void> {
  if (timeoutMs <= 0) return;
  const target = newestEndedAboveHorizon(await readSnapshot(db));
  if (target === undefined) return;
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if ((await currentHorizon(db)) > target) return;
    const left = deadline - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(delay, left));
  }
}
