import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';
import type { ContactView } from '../contact.view';

export class GetContactQuery extends Query<ContactView> {
  constructor(
    readonly auth: AuthContext,
    readonly contactId: string,
    /** The contact as it stood at this moment (events recorded at or before it); now if absent. */
    readonly asOf: Date | undefined,
  ) {
    super();
  }
}
