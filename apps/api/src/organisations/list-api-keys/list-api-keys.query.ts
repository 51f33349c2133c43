import { Query } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { AuthContext } from '../../auth/auth-context';

/** An API key as listed: never its secret nor the secret's hash. */
export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

export class ListApiKeysQuery extends Query<{ items: ApiKeyView[] }> {
  constructor(readonly auth: AuthContext) {
    super();
  }
}
