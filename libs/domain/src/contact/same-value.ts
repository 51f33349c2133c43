/** Structural equality of plain values, key order ignored: what "no actual change" means. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  const keys = Object.keys(aRecord).filter((k) => aRecord[k] !== undefined);
  return (
    keys.length === Object.keys(bRecord).filter((k) => bRecord[k] !== undefined).length &&
    keys.every((k) => sameValue(aRecord[k], bRecord[k]))
  );
}
