import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';
import type { InteractionView } from '../contact.view';

export interface InteractionPageView {
  readonly items: InteractionView[];
  /** Pass back as `cursor` for the next (older) page; null on the last. */
  readonly nextCursor: string | null;
}

export class ListInteractionsQuery extends Query<InteractionPageView> {
  constructor(
    readonly auth: AuthContext,
    readonly contactId: string,
    readonly limit: number,
    readonly cursor: string | undefined,
  ) {
    super();
  }
}
