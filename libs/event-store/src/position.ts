/**
 * A position in the global log. Opaque to callers: compare with `comparePositions`, persist with
 * `formatPosition` / `parsePosition`. The two parts mirror EventStoreDB's commit/prepare pair; the
 * PostgreSQL adapter stores (tx_id, global_seq) in them, the memory adapter its sequence twice.
 */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export const START: Position = Object.freeze({ commit: 0n, prepare: 0n });

// Largest value of a PostgreSQL bigint; used for "everything up to and including this commit".
export const MAX_PREPARE = 9_223_372_036_854_775_807n;

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export function formatPosition(position: Position): string {
  return `${position.commit}/${position.prepare}`;
}

export function parsePosition(text: string): Position {
  const match = /^(\d{1,20})\/(\d{1,20})$/.exec(text);
  if (!match) throw new Error(`Not a log position: ${JSON.stringify(text)}`);
  return { commit: BigInt(match[1]), prepare: BigInt(match[2]) };
}
