import type { ActorType } from '@beecastle/event-store';
import type { ContactEventType, FieldChange } from '@beecastle/domain';
import { Query } from '@nestjs/cqrs';
import type { AuthContext } from '../../auth/auth-context';

/** One event of a contact's history, as `GET /v1/contacts/{id}/history` answers it. */
export interface ContactHistoryItemView {
  /** The contact's version this event made. */
  readonly version: number;
  readonly type: ContactEventType;
  readonly at: string;
  readonly actor: { readonly id: string; readonly type: ActorType };
  readonly requestId: string | null;
  readonly changes: readonly FieldChange[];
}

export class ContactHistoryQuery extends Query<{ items: ContactHistoryItemView[] }> {
  constructor(
    readonly auth: AuthContext,
    readonly contactId: string,
  ) {
    super();
  }
}
