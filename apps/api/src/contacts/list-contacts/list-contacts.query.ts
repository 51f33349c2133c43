import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';
import type { ContactView } from '../contact.view';
import type { ContactListRequest } from './list-contacts.dto';

export interface ContactPageView {
  readonly items: ContactView[];
  /** Pass back as `cursor` (with the same filters and sort) for the next page; null on the last. */
  readonly nextCursor: string | null;
}

export class ListContactsQuery extends Query<ContactPageView> {
  constructor(
    readonly auth: AuthContext,
    readonly request: ContactListRequest,
  ) {
    super();
  }
}
