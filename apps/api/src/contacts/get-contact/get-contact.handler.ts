import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { withOrganisation } from '@beecastle/database';
import { DomainError, forbidden } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { ContactRepository, contactStream } from '../contact.repository';
import {
  CONTACT_VIEW_COLUMNS,
  contactViewOfRow,
  foldContactView,
  type ContactView,
  type ContactViewRow,
} from '../contact.view';
import { GetContactQuery } from './get-contact.query';

type RowWithHead = { head: string } & (ContactViewRow | { [K in keyof ContactViewRow]: null });

/**
 * One contact. Read-your-writes whatever the projector's lag: the read model's row and the stream's
 * head come from one statement (one snapshot), and a row that is missing or behind the head is
 * replaced by a fold of the stream, which holds every acknowledged write. `asOf` always folds,
 * up to the events recorded at or before it.
 */
@QueryHandler(GetContactQuery)
export class GetContactHandler implements IQueryHandler<GetContactQuery> {
  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    private readonly contacts: ContactRepository,
  ) {}

  async execute({ auth, contactId, asOf }: GetContactQuery): Promise<ContactView> {
    if (!auth.permissions.includes('contacts:read')) throw forbidden('contacts:read is needed');
    const organisationId = auth.organisationId;
    if (asOf) return this.fold(organisationId, contactId, asOf);

    const { rows } = await withOrganisation(this.pool, organisationId, (client) =>
      client.query<RowWithHead>(
        `SELECT s.last_revision::text AS head, ${CONTACT_VIEW_COLUMNS}
           FROM streams s
           LEFT JOIN contacts c ON c.org_id = $2 AND c.contact_id = $3
          WHERE s.stream_id = $1 AND s.org_id = $2`,
        [contactStream(organisationId, contactId), organisationId, contactId],
      ),
    );
    const row = rows[0];
    if (!row) throw notFound();
    if (row.contact_id !== null && BigInt(row.revision) >= BigInt(row.head))
      return contactViewOfRow(row);
    return this.fold(organisationId, contactId);
  }

  private async fold(organisationId: string, contactId: string, asOf?: Date): Promise<ContactView> {
    const { events } = await this.contacts.load(organisationId, contactId);
    const until = asOf?.getTime();
    const upTo =
      until === undefined ? events : events.filter((e) => e.recordedAt.getTime() <= until);
    const folded = foldContactView(upTo);
    if (!folded) throw notFound();
    return folded.contact;
  }
}

const notFound = () => new DomainError('NOT_FOUND', 'No such contact');
