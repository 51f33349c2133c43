import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';
import type { UserView } from './user.view';

export class ListUsersQuery extends Query<{ items: UserView[] }> {
  constructor(readonly auth: AuthContext) {
    super();
  }
}
