import type { ContactFields } from '@beecastle/domain';

/**
 * The normalised text behind `?q=` and the `name` sort, one definition for the projection that
 * writes it and the queries that read it: lower case, accents folded (NFKD without combining
 * marks), so `q=jose` finds "José" and `q=ADA` finds "ada@example.com".
 */
export function foldForSearch(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}

/**
 * Name, emails and company, one per line: first and last name share a line so "ada lovelace"
 * matches, and no fragment spans two fields (fields never hold line breaks).
 */
export function contactSearchText(fields: ContactFields): string {
  const name = [fields.firstName, fields.lastName].filter((part) => part !== null).join(' ');
  const lines = [name, ...fields.emails.map((email) => email.address), fields.company ?? ''];
  return foldForSearch(lines.filter((line) => line !== '').join('\n'));
}

/**
 * What `sort=name` orders by: the display name ("first last"); a contact without one sorts by its
 * first email, then its company, rather than all nameless contacts heading the list.
 */
export function contactNameKey(fields: ContactFields): string {
  const name = [fields.firstName, fields.lastName].filter((part) => part !== null).join(' ');
  return foldForSearch(name || fields.emails[0]?.address || fields.company || '');
}

/**
 * `q` as a LIKE pattern matching it anywhere in `search_text` (use with `ESCAPE '\'`): folded as
 * the column is, with `%`, `_` and `\` taken literally.
 */
export function searchPattern(q: string): string {
  return `%${foldForSearch(q).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
