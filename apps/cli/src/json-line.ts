/**
 * One line of JSON. Revisions are bigints in the code; they are far below 2^53 in practice, so
 * they print as plain numbers (and as strings in the theoretical case they are not).
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
  )}\n`;
}
