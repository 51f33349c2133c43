import {
  BadRequestException,
  InternalServerErrorException,
  NotFoundException,
} from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { DomainError } from '@beecastle/domain';
import { errorCodes } from 'fastify';
import { toProblemDetails } from './problem-details';
import { ProblemException } from './problem.exception';

const REQUEST_ID = '3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60';

/** What Nest's Fastify adapter hands the filter for one of Fastify's own errors. */
const adapter = new FastifyAdapter();
function fastifyError(error: Error): unknown {
  return adapter.mapException(error);
}

describe('toProblemDetails', () => {
  it('answers an unknown route with a 404 problem that names nothing', () => {
    const { problem, isServerFault } = toProblemDetails(
      new NotFoundException('Cannot GET /secret-admin'),
      REQUEST_ID,
    );
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'The requested resource does not exist.',
      code: 'NOT_FOUND',
      requestId: REQUEST_ID,
    });
    expect(isServerFault).toBe(false);
  });

  it("maps Fastify's oversized body to 413 and states the limit", () => {
    const { problem, isServerFault } = toProblemDetails(
      fastifyError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()),
      REQUEST_ID,
    );
    expect(problem).toMatchObject({
      status: 413,
      title: 'Payload Too Large',
      code: 'PAYLOAD_TOO_LARGE',
      detail: 'The request body is larger than the limit of 256 KiB.',
    });
    expect(isServerFault).toBe(false);
  });

  it("maps Fastify's refusals of a body's type or length without echoing its message", () => {
    const type = toProblemDetails(
      fastifyError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/plain')),
      REQUEST_ID,
    ).problem;
    expect(type).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(JSON.stringify(type)).not.toContain('text/plain');
    expect(
      toProblemDetails(
        fastifyError(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH()),
        REQUEST_ID,
      ).problem,
    ).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it("keeps a 5xx of Fastify's a bare server fault", () => {
    const { problem, isServerFault } = toProblemDetails(
      fastifyError(new errorCodes.FST_ERR_HANDLER_TIMEOUT(1000, 'GET /v1/me')),
      REQUEST_ID,
    );
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
    expect(isServerFault).toBe(true);
  });

  it('keeps the message of a deliberate 4xx from Nest (a pipe, a guard)', () => {
    const { problem } = toProblemDetails(
      new BadRequestException(['name must be a string', 'email must be an email']),
      REQUEST_ID,
    );
    expect(problem).toMatchObject({
      status: 400,
      code: 'BAD_REQUEST',
      detail: 'name must be a string; email must be an email',
    });
  });

  it('carries a ProblemException through, with its code and extensions', () => {
    const { problem, isServerFault } = toProblemDetails(
      new ProblemException(503, 'NOT_READY', 'Not ready: database unavailable.', {
        checks: { database: 'down' },
      }),
      REQUEST_ID,
    );
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'Not ready: database unavailable.',
      code: 'NOT_READY',
      requestId: REQUEST_ID,
      checks: { database: 'down' },
    });
    expect(isServerFault).toBe(false);
  });

  it('maps each domain refusal to its status, keeping its stable code', () => {
    const forbidden = toProblemDetails(new DomainError('FORBIDDEN', 'users:manage is needed'), 'r');
    expect(forbidden.problem).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
      detail: 'users:manage is needed',
    });
    expect(toProblemDetails(new DomainError('LAST_OWNER', 'x'), 'r').problem.status).toBe(409);
    expect(toProblemDetails(new DomainError('VALIDATION_FAILED', 'x'), 'r').problem.status).toBe(
      400,
    );
  });

  it('words a domain NOT_FOUND exactly as an unknown route, so nothing tells them apart', () => {
    const notFound = toProblemDetails(new DomainError('NOT_FOUND', 'No such user in org 42'), 'r');
    expect(notFound.problem.detail).not.toContain('42');
    expect(notFound.problem.detail).toBe(
      toProblemDetails(new NotFoundException(), 'r').problem.detail,
    );
  });

  it('does not let extensions overwrite the standard members', () => {
    const { problem } = toProblemDetails(
      new ProblemException(409, 'CONFLICT', 'taken', { status: 200, requestId: 'forged' }),
      REQUEST_ID,
    );
    expect(problem.status).toBe(409);
    expect(problem.requestId).toBe(REQUEST_ID);
  });

  it.each([
    ['a plain Error', new Error('connection to 10.0.0.5:5432 refused; password=hunter2')],
    ['a thrown string', 'boom'],
    ['a 5xx HttpException', new InternalServerErrorException('pool exhausted at db-1')],
    ['undefined', undefined],
  ])('answers %s with a bare 500 that reveals nothing', (_name, thrown) => {
    const { problem, isServerFault } = toProblemDetails(thrown, REQUEST_ID);
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred. Quote the request id if you report it.',
      code: 'INTERNAL_ERROR',
      requestId: REQUEST_ID,
    });
    expect(isServerFault).toBe(true);
  });
});
