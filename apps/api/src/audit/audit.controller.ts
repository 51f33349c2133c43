import { Controller, Get, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context';
import { CurrentAuth, RequirePermission } from '../auth/auth.decorators';
import { ProblemException } from '../http/problem.exception';
import { ListRequestsDto, requestLogQueryOf } from './list-requests/list-requests.dto';
import { ListRequestsQuery } from './list-requests/list-requests.query';
import { queryValidation } from '../http/validation';

const DEFAULT_LIMIT = 50;

@ApiTags('audit')
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly queries: QueryBus) {}

  /** This organisation's request log, newest first; the organisation only from the credential. */
  @Get('requests')
  @RequirePermission('audit:read')
  requests(@CurrentAuth() auth: AuthContext, @Query(queryValidation) query: ListRequestsDto) {
    const read = requestLogQueryOf(query, DEFAULT_LIMIT);
    if ('invalid' in read)
      throw new ProblemException(
        400,
        'VALIDATION_FAILED',
        `The query is not valid: ${read.invalid.join(' and ')} must be real moments, from not after to.`,
        { fields: read.invalid },
      );
    return this.queries.execute(new ListRequestsQuery(auth, read.filter, read.limit, query.cursor));
  }
}
