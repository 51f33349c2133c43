import type { ArgumentsHost } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import { SubjectErasedError } from '@beecastle/crypto';
import { PayloadDecryptionError } from '@beecastle/event-store';
import { ProblemDetailsFilter } from './problem-details.filter';
import { ProblemException } from './problem.exception';

const REQUEST_ID = 'req_0123456789';

interface Sent {
  status?: number;
  type?: string;
  body?: string;
  headers?: Record<string, string>;
  destroyed: boolean;
}

function harness(headersSent = false) {
  const lines: string[] = [];
  const filter = new ProblemDetailsFilter(
    pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
  );
  const sent: Sent = { destroyed: false };
  const reply = {
    sent: false,
    raw: {
      headersSent,
      destroy() {
        sent.destroyed = true;
      },
    },
    headers(headers: Record<string, string>) {
      sent.headers = { ...sent.headers, ...headers };
      return this;
    },
    code(code: number) {
      sent.status = code;
      return this;
    },
    type(type: string) {
      sent.type = type;
      return this;
    },
    send(body: string) {
      sent.body = body;
      return this;
    },
  } as unknown as FastifyReply;
  const req = { id: REQUEST_ID } as FastifyRequest;
  const host = {
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => reply }),
  } as unknown as ArgumentsHost;
  return {
    filter,
    host,
    sent,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('ProblemDetailsFilter', () => {
  it('answers an unexpected error with a bare 500 and puts the details in the log only', () => {
    const { filter, host, sent, logs } = harness();
    filter.catch(new Error('relation "contacts" does not exist at db-7'), host);

    expect(sent.status).toBe(500);
    expect(sent.type).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(sent.body!)).toMatchObject({ code: 'INTERNAL_ERROR', requestId: REQUEST_ID });
    expect(sent.body).not.toContain('db-7');

    const [line] = logs();
    expect(line).toMatchObject({ level: 50, requestId: REQUEST_ID, msg: 'unhandled error' });
    const err = line.err as { message: string; stack: string };
    expect(err.message).toBe('relation "contacts" does not exist at db-7');
    expect(err.stack).toContain('problem-details.filter.spec.ts');
  });

  it('answers a payload that does not decrypt with the same bare 500, and logs a security line', () => {
    const { filter, host, sent, logs } = harness();
    filter.catch(
      new PayloadDecryptionError('contact-o.c', 'e-1', 'c:1', 'authentication failed'),
      host,
    );
    expect(sent.status).toBe(500);
    expect(JSON.parse(sent.body!)).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred. Quote the request id if you report it.',
      code: 'INTERNAL_ERROR',
      requestId: REQUEST_ID,
    });
    const [line] = logs();
    expect(line).toMatchObject({
      level: 50,
      requestId: REQUEST_ID,
      security: 'payload_decryption_failed',
      msg: expect.stringMatching(/^SECURITY: /),
      err: { streamId: 'contact-o.c', eventId: 'e-1', keyId: 'c:1' },
    });
  });

  it('answers a write that raced an erasure as the contact now is: not found', () => {
    const { filter, host, sent, logs } = harness();
    filter.catch(new SubjectErasedError('o', 'c'), host);
    expect(sent.status).toBe(404);
    expect(JSON.parse(sent.body!)).toMatchObject({ code: 'NOT_FOUND' });
    expect(logs()).toEqual([]);
  });

  it('does not log a deliberate 4xx (the request log already records it)', () => {
    const { filter, host, sent, logs } = harness();
    filter.catch(new ProblemException(409, 'CONFLICT', 'taken'), host);
    expect(sent.status).toBe(409);
    expect(logs()).toEqual([]);
  });

  it('sends the headers that belong to a deliberate answer', () => {
    const { filter, host, sent } = harness();
    filter.catch(
      new ProblemException(429, 'TOO_MANY_REQUESTS', 'slow down', {}, { 'Retry-After': '30' }),
      host,
    );
    expect(sent.status).toBe(429);
    expect(sent.headers).toEqual({ 'Retry-After': '30' });
  });

  it('cuts the connection when the response had already started', () => {
    const { filter, host, sent } = harness(true);
    filter.catch(new Error('stream failed half-way'), host);
    expect(sent.destroyed).toBe(true);
    expect(sent.status).toBeUndefined();
  });
});
