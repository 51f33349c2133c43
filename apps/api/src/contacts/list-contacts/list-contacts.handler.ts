import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { withOrganisation } from '@beecastle/database';
import { forbidden } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { cursorRefused } from '../../http/cursor-refused';
import {
  contactListScope,
  decodeContactListCursor,
  encodeContactListCursor,
  readContactList,
} from './contact-list';
import { ListContactsQuery, type ContactPageView } from './list-contacts.query';

/**
 * A page of the caller's organisation's contacts from the read model, under its row-level
 * security. The cursor is bound to the organisation, the filters and the sort: one made for
 * another question is refused rather than quietly paging something else.
 */
@QueryHandler(ListContactsQuery)
export class ListContactsHandler implements IQueryHandler<ListContactsQuery> {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async execute({ auth, request }: ListContactsQuery): Promise<ContactPageView> {
    if (!auth.permissions.includes('contacts:read')) throw forbidden('contacts:read is needed');
    const { filter, sort, limit, cursor } = request;
    const organisationId = auth.organisationId;
    const scope = contactListScope(organisationId, filter, sort);
    const after = cursor === undefined ? undefined : decodeContactListCursor(cursor, sort, scope);
    if (after === 'malformed' || after === 'other-query') throw cursorRefused(after);
    const page = await withOrganisation(this.pool, organisationId, (client) =>
      readContactList(client, organisationId, filter, sort, limit, after),
    );
    return {
      items: page.items,
      nextCursor: page.next ? encodeContactListCursor(page.next, sort, scope) : null,
    };
  }
}
