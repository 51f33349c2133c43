import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { cursorScope, KeysetCursorCodec, withOrganisation } from '@beecastle/database';
import { DomainError, forbidden } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { cursorRefused } from '../../http/cursor-refused';
import { ContactRepository, contactStream } from '../contact.repository';
import {
  INTERACTION_VIEW_COLUMNS,
  foldContactView,
  interactionViewOfRow,
  type InteractionView,
  type InteractionViewRow,
} from '../contact.view';
import { ListInteractionsQuery, type InteractionPageView } from './list-interactions.query';

export const INTERACTION_CURSOR_MAX_LENGTH = 300;

// k: occurredAt to the microsecond (the column's precision); i: the interaction id.
const INTERACTION_CURSOR = new KeysetCursorCodec(
  { k: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, i: /^[A-Za-z0-9_-]{1,64}$/ },
  INTERACTION_CURSOR_MAX_LENGTH,
);

/** An interaction's place in the newest-first order: occurredAt (to the microsecond) and id. */
export interface Position {
  readonly k: string;
  readonly i: string;
}

/** An instant in the cursor's form: toISOString's milliseconds, to the microsecond. */
const microseconds = (iso: string) => iso.replace(/Z$/, '000Z');

/**
 * One page of a contact's interactions from the read model, one row more than the page: the index
 * `interactions_newest` read in order from the cursor's position on.
 */
export function interactionPageStatement(
  organisationId: string,
  contactId: string,
  after: Position | undefined,
  limit: number,
): { text: string; values: unknown[] } {
  const text = `SELECT ${INTERACTION_VIEW_COLUMNS},
         to_char(i.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_key
    FROM interactions i
   WHERE i.org_id = $1 AND i.contact_id = $2
     ${after ? 'AND (i.occurred_at, i.interaction_id) < ($4::timestamptz, $5)' : ''}
   ORDER BY i.occurred_at DESC, i.interaction_id DESC
   LIMIT $3`;
  const values = [organisationId, contactId, limit + 1];
  return { text, values: after ? [...values, after.k, after.i] : values };
}

/**
 * A contact's interactions, newest first, in keyset pages. From the read model (the index
 * `interactions_newest`) when the contact's row has caught up with its stream; otherwise from a
 * fold of the stream, so an interaction just logged is listed at once, as the contact itself is.
 */
@QueryHandler(ListInteractionsQuery)
export class ListInteractionsHandler implements IQueryHandler<ListInteractionsQuery> {
  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    private readonly contacts: ContactRepository,
  ) {}

  async execute({
    auth,
    contactId,
    limit,
    cursor,
  }: ListInteractionsQuery): Promise<InteractionPageView> {
    if (!auth.permissions.includes('contacts:read')) throw forbidden('contacts:read is needed');
    const organisationId = auth.organisationId;
    const scope = cursorScope(['interactions', organisationId, contactId]);
    const after = cursor === undefined ? undefined : INTERACTION_CURSOR.decode(cursor, scope);
    if (after === 'malformed' || after === 'other-query') throw cursorRefused(after);

    const page = await withOrganisation(this.pool, organisationId, async (client) => {
      const { rows } = await client.query<{ head: string; revision: string | null }>(
        `SELECT s.last_revision::text AS head, c.revision::text AS revision
           FROM streams s
           LEFT JOIN contacts c ON c.org_id = $2 AND c.contact_id = $3
          WHERE s.stream_id = $1 AND s.org_id = $2`,
        [contactStream(organisationId, contactId), organisationId, contactId],
      );
      const contact = rows[0];
      if (!contact) throw notFound();
      if (contact.revision === null || BigInt(contact.revision) < BigInt(contact.head))
        return undefined; // behind the log: fold instead, outside this transaction
      const listed = await client.query<InteractionViewRow & { occurred_key: string }>(
        interactionPageStatement(organisationId, contactId, after, limit),
      );
      return listed.rows.map((row) => ({
        item: interactionViewOfRow(row),
        position: { k: row.occurred_key, i: row.interaction_id },
      }));
    });
    const found = page ?? (await this.folded(organisationId, contactId, after, limit));
    const items = found.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(({ item }) => item),
      nextCursor:
        found.length > limit && last ? INTERACTION_CURSOR.encode(last.position, scope) : null,
    };
  }

  /** The same page, up to one row more, from the stream. */
  private async folded(
    organisationId: string,
    contactId: string,
    after: Position | undefined,
    limit: number,
  ): Promise<{ item: InteractionView; position: Position }[]> {
    const { events } = await this.contacts.load(organisationId, contactId);
    const folded = foldContactView(events);
    if (!folded) throw notFound();
    return folded.interactions
      .map((item) => ({ item, position: { k: microseconds(item.occurredAt), i: item.id } }))
      .filter(
        ({ position }) =>
          !after || position.k < after.k || (position.k === after.k && position.i < after.i),
      )
      .slice(0, limit + 1);
  }
}

const notFound = () => new DomainError('NOT_FOUND', 'No such contact');
