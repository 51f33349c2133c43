import { cursorScope, KeysetCursorCodec, type CursorRefusal } from '@beecastle/database';
import { searchPattern } from '@beecastle/read-model';
import type { ClientBase } from 'pg';
import {
  CONTACT_VIEW_COLUMNS,
  contactViewOfRow,
  type ContactView,
  type ContactViewRow,
} from '../contact.view';

export const CONTACT_SORTS = [
  'name',
  '-name',
  'createdAt',
  '-createdAt',
  'updatedAt',
  '-updatedAt',
] as const;
export type ContactSort = (typeof CONTACT_SORTS)[number];

/** The filters of `GET /v1/contacts`, already validated. */
export interface ContactListFilter {
  readonly q: string | undefined;
  readonly tag: string | undefined;
  readonly company: string | undefined;
  readonly archived: boolean;
}

/** A contact's place in a list's order: its sort key (as text) and id. */
export interface ContactListPosition {
  readonly key: string;
  readonly id: string;
}

export interface ContactListPage {
  readonly items: ContactView[];
  /** Where the next page starts, when there is one. */
  readonly next: ContactListPosition | undefined;
}

// Each sort reads one index, (org_id, archived, <column>, contact_id), forwards or backwards
// (migration 1764000000005). Timestamps travel in cursors to the microsecond, the column's
// precision, so that a page boundary never falls between two rows of the same millisecond.
const SORT_COLUMN = {
  name: 'c.name_key',
  createdAt: 'c.created_at',
  updatedAt: 'c.updated_at',
} as const;
const TIME_KEY = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const CONTACT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * The longest cursor taken back, in characters: well inside Node's 16 KiB header limit, and room
 * for a name key of 2,000 characters, which no real name reaches (400 characters of name, folded).
 */
export const CONTACT_CURSOR_MAX_LENGTH = 8_000;
const NAME_CURSOR = new KeysetCursorCodec(
  { k: /^[\s\S]{0,2000}$/u, i: CONTACT_ID },
  CONTACT_CURSOR_MAX_LENGTH,
);
const TIME_CURSOR = new KeysetCursorCodec(
  { k: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, i: CONTACT_ID },
  CONTACT_CURSOR_MAX_LENGTH,
);
const cursorCodec = (sort: ContactSort) => (sort.endsWith('name') ? NAME_CURSOR : TIME_CURSOR);

/** What a list cursor is only valid for: this list, one organisation, its filters and sort. */
export function contactListScope(
  organisationId: string,
  filter: ContactListFilter,
  sort: ContactSort,
): string {
  const { q, tag, company, archived } = filter;
  return cursorScope([
    'contacts',
    organisationId,
    q ?? null,
    tag ?? null,
    company ?? null,
    archived,
    sort,
  ]);
}

export function encodeContactListCursor(
  position: ContactListPosition,
  sort: ContactSort,
  scope: string,
): string {
  return cursorCodec(sort).encode({ k: position.key, i: position.id }, scope);
}

export function decodeContactListCursor(
  cursor: string,
  sort: ContactSort,
  scope: string,
): ContactListPosition | CursorRefusal {
  const decoded = cursorCodec(sort).decode(cursor, scope);
  return typeof decoded === 'string' ? decoded : { key: decoded.k, id: decoded.i };
}

/**
 * The statement for one page: fixed SQL fragments chosen by which filters are present, every value
 * a bind parameter. `q` becomes a LIKE pattern with its wildcards escaped (searchPattern), so `%`,
 * `_` and quotes are plain text; the trigram index answers it. One more row than the page is read
 * to learn whether another page follows.
 */
export function contactListStatement(
  organisationId: string,
  filter: ContactListFilter,
  sort: ContactSort,
  limit: number,
  after: ContactListPosition | undefined,
): { text: string; values: unknown[] } {
  const descending = sort.startsWith('-');
  const column = SORT_COLUMN[(descending ? sort.slice(1) : sort) as keyof typeof SORT_COLUMN];
  const isTime = column !== SORT_COLUMN.name;
  const values: unknown[] = [organisationId, filter.archived];
  const param = (value: unknown) => `$${values.push(value)}`;

  const where = ['c.org_id = $1', 'c.archived = $2'];
  if (filter.q !== undefined)
    where.push(`c.search_text LIKE ${param(searchPattern(filter.q))} ESCAPE '\\'`);
  if (filter.tag !== undefined) where.push(`c.tags @> ARRAY[${param(filter.tag)}::text]`);
  if (filter.company !== undefined)
    // company_key is lower(company), stored: compared with `=`, the index answers it even under
    // row-level security (IndexedCompanyFilter).
    where.push(`c.company_key = lower(${param(filter.company)})`);
  if (after) {
    const key = isTime ? `${param(after.key)}::timestamptz` : param(after.key);
    where.push(`(${column}, c.contact_id) ${descending ? '<' : '>'} (${key}, ${param(after.id)})`);
  }
  const direction = descending ? 'DESC' : 'ASC';
  const text = `SELECT ${CONTACT_VIEW_COLUMNS}, ${isTime ? TIME_KEY(column) : column} AS sort_key
    FROM contacts c
   WHERE ${where.join(' AND ')}
   ORDER BY ${column} ${direction}, c.contact_id ${direction}
   LIMIT ${param(limit + 1)}`;
  return { text, values };
}

/**
 * One page of an organisation's contacts, resuming strictly after `after`. Runs on a client inside
 * withOrganisation, so row-level security holds whatever the arguments say.
 */
export async function readContactList(
  client: ClientBase,
  organisationId: string,
  filter: ContactListFilter,
  sort: ContactSort,
  limit: number,
  after: ContactListPosition | undefined,
): Promise<ContactListPage> {
  const result = await client.query<ContactViewRow & { sort_key: string }>(
    contactListStatement(organisationId, filter, sort, limit, after),
  );
  const rows = result.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    items: rows.map(contactViewOfRow),
    next:
      result.rows.length > limit && last ? { key: last.sort_key, id: last.contact_id } : undefined,
  };
}
