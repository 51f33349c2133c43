import type { RequestLogFilter, RequestLogItem } from '@beecastle/audit';
import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';

export interface RequestLogPageView {
  readonly items: RequestLogItem[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

export class ListRequestsQuery extends Query<RequestLogPageView> {
  constructor(
    readonly auth: AuthContext,
    readonly filter: RequestLogFilter,
    readonly limit: number,
    readonly cursor: string | undefined,
  ) {
    super();
  }
}
