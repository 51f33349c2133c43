import { json, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { ProblemException } from './problem.exception';

export const JSON_BODY_LIMIT_BYTES = 256 * 1024;

const JSON_TYPES = ['application/json', 'application/*+json'];

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** A request that carries a body must say it is JSON: the API reads nothing else. */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  if (hasBody(req) && !req.is(JSON_TYPES)) {
    throw new ProblemException(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'Request bodies must be JSON, sent with Content-Type: application/json.',
    );
  }
  next();
}

/**
 * The only body parser. No decompression: the size limit then bounds what is read, and a small
 * compressed body cannot inflate into a large one.
 */
export function jsonBodyParser(): RequestHandler {
  return json({ limit: JSON_BODY_LIMIT_BYTES, type: JSON_TYPES, inflate: false, strict: true });
}
