import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { ProblemException } from './problem.exception';

export const JSON_BODY_LIMIT_BYTES = 256 * 1024;

// `application/json` and the structured-syntax `+json` types (RFC 6839), parameters aside: what
// the request hook lets through and the parser takes are one rule.
const JSON_CONTENT_TYPE = /^\s*application\/(?:json|[a-z0-9!#$&^_.-]+\+json)\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

function unsupported(detail: string): ProblemException {
  return new ProblemException(415, 'UNSUPPORTED_MEDIA_TYPE', detail);
}

/**
 * A request that carries a body must say it is JSON, in UTF-8, and not compressed: the API reads
 * nothing else. A request hook, so that it answers before routing, authentication or any read of
 * the body. No decompression means the size limit bounds what is read, and a small compressed body
 * cannot inflate into a large one.
 */
export function requireJsonBody(
  request: { readonly headers: IncomingHttpHeaders },
  _reply: unknown,
  done: (error?: Error) => void,
): void {
  const { headers } = request;
  if (!hasBody(headers)) return done();
  const type = headers['content-type'];
  if (type === undefined || !JSON_CONTENT_TYPE.test(type))
    return done(
      unsupported('Request bodies must be JSON, sent with Content-Type: application/json.'),
    );
  const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return done(unsupported('Request bodies must be JSON in UTF-8.'));
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
    return done(unsupported('Compressed request bodies are not accepted.'));
  done();
}

/**
 * Parses a JSON body: an object or a list at the top (a bare string or number is no request the
 * API takes), and an empty body as `{}`. `__proto__` and its like stay plain keys, which the
 * prototype-keys pipe then refuses by name.
 */
export function parseJsonBody(body: string): unknown {
  const text = body.trim();
  if (text === '') return {};
  if (text[0] !== '{' && text[0] !== '[') throw malformed();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw malformed();
  }
}

function malformed(): ProblemException {
  return new ProblemException(400, 'MALFORMED_JSON', 'The request body is not valid JSON.');
}

/**
 * The only body parser: Fastify's own (JSON and plain text) are removed, so every other type is
 * refused. Bodies over the limit are refused (413) before or while they are read.
 */
export function useJsonBodyParser(instance: FastifyInstance): void {
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser(
    JSON_CONTENT_TYPE,
    { parseAs: 'string', bodyLimit: JSON_BODY_LIMIT_BYTES },
    (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
}
