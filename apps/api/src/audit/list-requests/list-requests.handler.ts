import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import {
  decodeRequestLogCursor,
  encodeRequestLogCursor,
  readRequestLog,
  requestLogCursorScope,
} from '@beecastle/audit';
import { withOrganisation } from '@beecastle/database';
import { forbidden } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { cursorRefused } from '../../http/cursor-refused';
import { ListRequestsQuery, type RequestLogPageView } from './list-requests.query';

/**
 * The caller's organisation's request log, newest first, under its row-level security. The
 * cursor is bound to the organisation and the filters: one made for another question is refused
 * rather than quietly paging something else.
 */
@QueryHandler(ListRequestsQuery)
export class ListRequestsHandler implements IQueryHandler<ListRequestsQuery> {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async execute({ auth, filter, limit, cursor }: ListRequestsQuery): Promise<RequestLogPageView> {
    if (!auth.permissions.includes('audit:read')) throw forbidden('audit:read is needed');
    const organisationId = auth.organisationId;
    const scope = requestLogCursorScope(organisationId, filter);
    const after = cursor === undefined ? undefined : decodeRequestLogCursor(cursor, scope);
    if (after === 'malformed' || after === 'other-query') throw cursorRefused(after);
    const page = await withOrganisation(this.pool, organisationId, (client) =>
      readRequestLog(client, organisationId, filter, limit, after),
    );
    return {
      items: page.items,
      nextCursor: page.next ? encodeRequestLogCursor(page.next, scope) : null,
    };
  }
}
