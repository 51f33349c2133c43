import { createHash } from 'node:crypto';
import { ProblemException } from '../problem.exception';

// Visible ASCII only: nothing that could break a log line, and the same in every encoding.
const KEY = /^[\x21-\x7e]{1,255}$/;

/** The header's key, or 400 naming the header (a key sent twice arrives joined, and fails too). */
export function parseIdempotencyKey(header: string | string[]): string {
  if (typeof header === 'string' && KEY.test(header)) return header;
  throw new ProblemException(
    400,
    'VALIDATION_FAILED',
    'The Idempotency-Key header must be 1 to 255 visible ASCII characters.',
    { fields: ['Idempotency-Key'] },
  );
}

export interface IdempotentRequest {
  readonly method: string;
  /** The path and query as sent. */
  readonly path: string;
  /** Who is asking (`user:<id>`, `api_key:<id>`): another caller's retry is another request. */
  readonly actor: string;
  readonly ifMatch: string | undefined;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
}

/**
 * What makes two requests "the same" for a key: SHA-256 over the method, path, actor, If-Match
 * and the body as canonical JSON (keys sorted), so that a client re-serialising the same body in
 * another key order or spacing is still retrying, and any change in meaning is not.
 */
export function requestFingerprint(request: IdempotentRequest): Buffer {
  const { method, path, actor, ifMatch, body } = request;
  // The JSON-encoded head cannot contain a raw newline, so head and body cannot run together.
  return createHash('sha256')
    .update(JSON.stringify([method.toUpperCase(), path, actor, ifMatch ?? null]))
    .update('\n')
    .update(canonicalJson(body))
    .digest();
}

class Literal {
  constructor(readonly text: string) {}
}

/**
 * JSON with every object's keys in sorted order; '' for no body. Iterative, because a 256 KiB
 * body can nest deeper than the call stack goes; it only reads the value, so keys such as
 * `__proto__` are text like any other.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return '';
  const out: string[] = [];
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (item instanceof Literal) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      // Pushed in reverse, so that they come off the stack in order.
      pending.push(new Literal(']'));
      for (let i = item.length - 1; i >= 0; i -= 1) {
        pending.push(item[i]);
        if (i > 0) pending.push(new Literal(','));
      }
      pending.push(new Literal('['));
    } else if (item !== null && typeof item === 'object') {
      const keys = Object.keys(item).sort();
      pending.push(new Literal('}'));
      for (let i = keys.length - 1; i >= 0; i -= 1) {
        pending.push((item as Record<string, unknown>)[keys[i]]);
        pending.push(new Literal(`${JSON.stringify(keys[i])}:`));
        if (i > 0) pending.push(new Literal(','));
      }
      pending.push(new Literal('{'));
    } else {
      out.push(JSON.stringify(item) ?? 'null');
    }
  }
  return out.join('');
}
