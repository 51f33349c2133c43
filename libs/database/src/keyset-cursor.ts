import { createHash } from 'node:crypto';

/** A value a cursor's scope is made of: an organisation id, a filter, a sort. */
export type CursorScopePart = string | number | boolean | null;

/**
 * What a cursor is only valid for: one organisation and one query's filters and order (not the page
 * size, which may change between pages), as a digest, so the cursor shows neither. Name the query
 * among the parts, so that one list's cursor cannot be replayed on another list with the same
 * filters. It needs no secret: a forged cursor can only name a position in the caller's own
 * organisation's rows, which row-level security confines the query to anyway; the binding is there
 * to refuse a cursor that would silently page a different question.
 */
export function cursorScope(parts: readonly CursorScopePart[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/** A cursor that names no position of this query: say which, so the answer can too. */
export type CursorRefusal = 'malformed' | 'other-query';

// The scope's key in the encoded object: no position field may take it.
const SCOPE_KEY = 's';

/**
 * An opaque keyset cursor: the last row's sort key and tie-breaker (each a string, checked on the
 * way back in against its field's pattern), bound to a scope from `cursorScope`. One mechanism for
 * every list that pages by keyset, the request log and the contacts alike.
 */
export class KeysetCursorCodec<K extends string> {
  private readonly keys: readonly K[];
  private readonly wellFormed: RegExp;

  /**
   * @param fields each position field's short key in the cursor and the pattern (anchored) its
   *   value must match; the order here is the order in the encoded cursor.
   * @param maxLength the longest cursor accepted, in characters.
   */
  constructor(
    private readonly fields: Readonly<Record<K, RegExp>>,
    maxLength = 300,
  ) {
    this.keys = Object.keys(fields) as K[];
    if ((this.keys as readonly string[]).includes(SCOPE_KEY))
      throw new Error(`A cursor field may not be called ${SCOPE_KEY}`);
    this.wellFormed = new RegExp(`^[A-Za-z0-9_-]{1,${maxLength}}$`);
  }

  encode(position: Readonly<Record<K, string>>, scope: string): string {
    const encoded: Record<string, string> = {};
    for (const key of this.keys) encoded[key] = position[key];
    encoded[SCOPE_KEY] = scope;
    return Buffer.from(JSON.stringify(encoded)).toString('base64url');
  }

  /** The position a cursor names; `malformed` or `other-query` when it is not for this query. */
  decode(cursor: string, scope: string): Record<K, string> | CursorRefusal {
    let decoded: unknown;
    try {
      if (!this.wellFormed.test(cursor)) return 'malformed';
      decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    } catch {
      return 'malformed';
    }
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded))
      return 'malformed';
    const given = decoded as Record<string, unknown>;
    const position = {} as Record<K, string>;
    for (const key of this.keys) {
      const value = Object.hasOwn(given, key) ? given[key] : undefined;
      if (typeof value !== 'string' || !this.fields[key].test(value)) return 'malformed';
      position[key] = value;
    }
    const givenScope = Object.hasOwn(given, SCOPE_KEY) ? given[SCOPE_KEY] : undefined;
    if (typeof givenScope !== 'string') return 'malformed';
    if (givenScope !== scope) return 'other-query';
    return position;
  }
}
