import { STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';
import { SubjectErasedError } from '@beecastle/crypto';
import { DomainError, type DomainErrorCode } from '@beecastle/domain';
import { JSON_BODY_LIMIT_BYTES } from './json-body';
import { ProblemException } from './problem.exception';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** RFC 9457 problem details, plus our stable `code` and the request id. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly requestId: string;
  readonly [extension: string]: unknown;
}

export interface MappedProblem {
  readonly problem: ProblemDetails;
  readonly headers: Readonly<Record<string, string>>;
  /** A server fault: log it with the request id; the client learns nothing more. */
  readonly isServerFault: boolean;
}

// Stable codes for answers that carry no more meaning than their status. Spelled out rather than
// derived from Node's reason phrases, which have changed between versions.
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  411: 'LENGTH_REQUIRED',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_CONTENT',
  428: 'PRECONDITION_REQUIRED',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

// The domain's refusals, each code to one status. NOT_FOUND uses the same wording as every other
// 404, so another organisation's record and a random id answer alike.
const STATUS_BY_DOMAIN_CODE: Readonly<Record<DomainErrorCode, number>> = {
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  MEMBER_EXISTS: 409,
  LAST_OWNER: 409,
  INVALID_STATE: 409,
  CONTACT_ARCHIVED: 409,
  VALIDATION_FAILED: 400,
};

const NOT_FOUND_DETAIL = 'The requested resource does not exist.';
const INTERNAL_ERROR_DETAIL =
  'An unexpected error occurred. Quote the request id if you report it.';

/**
 * Fastify's own refusals, each with a code and a detail that names the rule, never Fastify's
 * message (which quotes the path). The JSON parser and the content-type hook throw problems of
 * their own; these are what Fastify decides itself: the size limit, a body whose length or type it
 * could not take, and the router's refusals of a path.
 */
function fastifyProblem(
  cause: unknown,
): { code: string; detail: string; status: number } | undefined {
  if (typeof cause !== 'object' || cause === null || !('code' in cause)) return undefined;
  switch (cause.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        detail: `The request body is larger than the limit of ${JSON_BODY_LIMIT_BYTES / 1024} KiB.`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        detail: 'Request bodies must be JSON, sent with Content-Type: application/json.',
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        status: 400,
        code: 'BAD_REQUEST',
        detail: 'The request body is not as long as its Content-Length says.',
      };
    case 'FST_ERR_BAD_URL':
      return {
        status: 400,
        code: 'BAD_REQUEST',
        detail: 'The request path is not valid percent-encoded UTF-8.',
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        status: 414,
        code: 'URI_TOO_LONG',
        detail: 'A segment of the request path is too long.',
      };
    default:
      return undefined;
  }
}

function httpExceptionDetail(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message) && message.every((m) => typeof m === 'string')) {
    return message.join('; ');
  }
  return STATUS_CODES[exception.getStatus()] ?? 'Error';
}

function problem(
  status: number,
  code: string,
  detail: string,
  requestId: string,
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemDetails {
  // `about:blank`: the status and our `code` say it all; the title is then the reason phrase.
  return {
    ...extensions,
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    requestId,
  };
}

/**
 * The one mapping from whatever was thrown to the answer the client sees. Only deliberate 4xx
 * answers say why; every 5xx is the same bare message, its cause goes to the log.
 */
export function toProblemDetails(exception: unknown, requestId: string): MappedProblem {
  if (exception instanceof ProblemException) {
    return {
      problem: problem(
        exception.status,
        exception.code,
        exception.detail,
        requestId,
        exception.extensions,
      ),
      headers: exception.headers,
      isServerFault: false,
    };
  }
  if (exception instanceof DomainError) {
    const status = STATUS_BY_DOMAIN_CODE[exception.code];
    const detail = status === 404 ? NOT_FOUND_DETAIL : exception.message;
    return {
      problem: problem(status, exception.code, detail, requestId),
      headers: {},
      isServerFault: false,
    };
  }
  // A write that raced an erasure: its contact no longer exists, as any later read will say.
  if (exception instanceof SubjectErasedError) {
    return {
      problem: problem(404, 'NOT_FOUND', NOT_FOUND_DETAIL, requestId),
      headers: {},
      isServerFault: false,
    };
  }
  if (exception instanceof HttpException && exception.getStatus() < 500) {
    const status = exception.getStatus();
    const fromFastify = fastifyProblem(exception.cause);
    if (fromFastify) {
      return {
        problem: problem(fromFastify.status, fromFastify.code, fromFastify.detail, requestId),
        headers: {},
        isServerFault: false,
      };
    }
    const code = CODE_BY_STATUS[status] ?? `HTTP_${status}`;
    // One wording for every 404, so a route that does not exist and a record that may not be
    // seen answer alike.
    const detail = status === 404 ? NOT_FOUND_DETAIL : httpExceptionDetail(exception);
    return { problem: problem(status, code, detail, requestId), headers: {}, isServerFault: false };
  }
  return {
    problem: problem(500, 'INTERNAL_ERROR', INTERNAL_ERROR_DETAIL, requestId),
    headers: {},
    isServerFault: true,
  };
}
