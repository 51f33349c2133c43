import {
  type BeforeApplicationShutdown,
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { catchError, defer, from, mergeMap, type Observable, of, throwError } from 'rxjs';
import type { AuthenticatedRequest } from '../../auth/auth-context';
import { LOGGER } from '../../logging/logging.module';
import { ProblemException } from '../problem.exception';
import { toProblemDetails } from '../problem-details';
import { requestIdOf } from '../request-id';
import { parseIdempotencyKey, requestFingerprint } from './idempotency-key';
import { IdempotencyStore, type StoredAnswer } from './idempotency.store';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** The answer's headers a replay repeats; the rest (request id, dates) belong to each answer. */
const REPLAYED_HEADERS = ['Location', 'ETag'];
const PURGE_INTERVAL_MS = 60_000;

interface Scope {
  readonly organisationId: string;
  readonly key: string;
  readonly claim: string;
}

/**
 * `Idempotency-Key` on every authenticated write (API.md, "Conventions for every write"), for all
 * controllers at once. The first request with a key runs and its answer is kept, 4xx included; a
 * retry with the same request gets that answer (`Idempotent-Replayed: true`) and runs nothing; the
 * key with another request is 422; while the first still runs, 409 with `Retry-After`. A 5xx or
 * unexpected error forgets the key, so that a retry runs again. Keys belong to the organisation
 * of the credential; public routes (sign-in, refresh) ignore the header.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor, BeforeApplicationShutdown {
  private readonly lastPurge = new Map<string, number>();
  private readonly purges = new Set<Promise<void>>();

  constructor(
    private readonly store: IdempotencyStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
    const header = req.headers['idempotency-key'];
    const auth = req.user;
    if (header === undefined || !auth || !WRITES.has(req.method)) return next.handle();
    const res = context.switchToHttp().getResponse<FastifyReply>();

    return defer(async () => {
      const key = parseIdempotencyKey(header);
      const fingerprint = requestFingerprint({
        method: req.method,
        path: req.url,
        actor: `${auth.actor.type}:${auth.actor.id}`,
        ifMatch: req.headers['if-match'],
        body: req.body,
      });
      return { key, claimed: await this.store.claim(auth.organisationId, key, fingerprint) };
    }).pipe(
      mergeMap(({ key, claimed }) => {
        switch (claimed.outcome) {
          case 'claimed':
            return this.run(next, req, res, {
              organisationId: auth.organisationId,
              key,
              ...claimed,
            });
          case 'replay':
            return replay(res, claimed.answer);
          case 'reused':
            return throwError(
              () =>
                new ProblemException(
                  422,
                  'IDEMPOTENCY_KEY_REUSED',
                  'This Idempotency-Key was used for a different request.',
                ),
            );
          case 'in-flight':
            return throwError(
              () =>
                new ProblemException(
                  409,
                  'IDEMPOTENCY_KEY_IN_FLIGHT',
                  'A request with this Idempotency-Key is still being processed; retry shortly.',
                  {},
                  { 'Retry-After': '1' },
                ),
            );
        }
      }),
    );
  }

  /** Waits for purges still running, before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.purges);
  }

  private run(
    next: CallHandler,
    req: FastifyRequest,
    res: FastifyReply,
    scope: Scope,
  ): Observable<unknown> {
    return next.handle().pipe(
      // Kept before the answer leaves, so that a retry the moment it arrives is a replay.
      mergeMap(async (value: unknown) => {
        // Serialised as Nest's reply serialises it, so a replay sends the same bytes.
        const bodyJson = value === undefined || value === null ? null : JSON.stringify(value);
        await this.settle(scope, () =>
          this.store.complete(scope.organisationId, scope.key, scope.claim, {
            status: res.statusCode,
            headers: replayedHeaders(res),
            bodyJson,
          }),
        );
        return value;
      }),
      catchError((error: unknown) =>
        from(this.settleFailure(req, res, scope, error)).pipe(
          mergeMap(() => throwError(() => error)),
        ),
      ),
    );
  }

  /** A refusal is an answer like any other and is kept; a server fault frees the key. */
  private async settleFailure(
    req: FastifyRequest,
    res: FastifyReply,
    scope: Scope,
    error: unknown,
  ) {
    // The same mapping the exception filter applies next, so the kept body is the one sent.
    const { problem, isServerFault } = toProblemDetails(error, requestIdOf(req));
    if (isServerFault || problem.status >= 500) {
      await this.settle(scope, () =>
        this.store.release(scope.organisationId, scope.key, scope.claim),
      );
      return;
    }
    const { requestId: _requestId, ...body } = problem;
    await this.settle(scope, () =>
      this.store.complete(scope.organisationId, scope.key, scope.claim, {
        status: problem.status,
        headers: replayedHeaders(res),
        bodyJson: JSON.stringify(body),
      }),
    );
  }

  /**
   * Runs the key's last step. Its failure must not change the answer (the write has happened):
   * it is logged, and the key stays in flight until another request takes it over.
   */
  private async settle(scope: Scope, step: () => Promise<boolean>): Promise<void> {
    try {
      if (!(await step())) {
        this.logger.warn(
          { organisationId: scope.organisationId },
          'idempotency key was taken over before its first request finished',
        );
      }
    } catch (err) {
      this.logger.error(
        { err, organisationId: scope.organisationId },
        'idempotency key not settled',
      );
    }
    this.purgeSoon(scope.organisationId);
  }

  /** At most once a minute per organisation, after the answer and off its path. */
  private purgeSoon(organisationId: string): void {
    const now = Date.now();
    if (now - (this.lastPurge.get(organisationId) ?? 0) < PURGE_INTERVAL_MS) return;
    this.lastPurge.set(organisationId, now);
    if (this.lastPurge.size > 10_000) {
      for (const [id, at] of this.lastPurge)
        if (now - at >= PURGE_INTERVAL_MS) this.lastPurge.delete(id);
    }
    const purge = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.store.purgeExpired(organisationId))
      .then(
        () => undefined,
        (err: unknown) => this.logger.error({ err, organisationId }, 'idempotency purge failed'),
      )
      .finally(() => this.purges.delete(purge));
    this.purges.add(purge);
  }
}

function replayedHeaders(res: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = res.getHeader(name);
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

/**
 * The first answer again. A success goes out through Nest's reply, with the route's status, which
 * is the status it had the first time (routes declare theirs); a refusal goes through the
 * exception filter as the problem it was, with this request's id.
 */
function replay(res: FastifyReply, answer: StoredAnswer): Observable<unknown> {
  const headers = { ...answer.headers, 'Idempotent-Replayed': 'true' };
  if (answer.status < 400) {
    res.headers(headers);
    return of(answer.body ?? undefined);
  }
  const {
    code,
    detail,
    type: _type,
    title: _title,
    status: _status,
    ...extensions
  } = answer.body as { code: string; detail: string; [member: string]: unknown };
  return throwError(() => new ProblemException(answer.status, code, detail, extensions, headers));
}
