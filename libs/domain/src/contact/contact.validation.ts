import { DomainError } from '../shared/domain-error';
import {
  ADDRESS_PARTS,
  type ContactAddress,
  type ContactEmail,
  type ContactPhone,
  INTERACTION_DIRECTIONS,
  INTERACTION_TYPES,
  type InteractionDirection,
  type InteractionType,
} from './contact.events';

/**
 * The documented limits, one table for the domain and for the API's DTOs. The domain checks them as
 * a second line of defence, so an event in the log always satisfies them whatever the caller did.
 * Lengths count Unicode code points, never more than the UTF-16 units validators count, so the
 * domain is never stricter than a DTO using the same numbers.
 */
export const CONTACT_LIMITS = {
  emails: 20,
  phones: 20,
  tags: 50,
  nameLength: 200,
  companyLength: 200,
  jobTitleLength: 200,
  addressPartLength: 200,
  labelLength: 50,
  tagLength: 50,
  emailLength: 254,
  notesLength: 20_000,
  subjectLength: 500,
  bodyLength: 20_000,
  maxDurationSeconds: 7 * 86_400,
} as const;

/** A refusal that names the offending field, as a path (`emails[2].address`, `address.city`). */
export class ContactValidationError extends DomainError {
  constructor(
    readonly field: string,
    rule: string,
  ) {
    super('VALIDATION_FAILED', `${field}: ${rule}`);
  }
}

const invalid = (field: string, rule: string) => new ContactValidationError(field, rule);

/** Ids become part of stream names and read-model keys: the event store's id alphabet. */
const ID = /^[A-Za-z0-9_-]{1,64}$/u;
// Control characters, and lone surrogates (JSON and PostgreSQL text both reject them).
const CONTROL_OR_LONE_SURROGATE = /[\p{Cc}\p{Cs}]/u;
const CONTROL_BUT_LINE_BREAKS_OR_LONE_SURROGATE = /[^\P{Cc}\t\n\r]|\p{Cs}/u;
const SURROUNDING_SPACE = /^\s|\s$/u;
// Loose on purpose: the API validates and normalises addresses; here one @, no spaces, and a
// lower-case domain (the local part keeps its case, as RFC 5321 allows).
const EMAIL = /^[^\s@]{1,64}@[^\s@A-Z]{1,253}$/u;
const E164 = /^\+[1-9][0-9]{1,14}$/u;
const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|([+-])(\d{2}):(\d{2}))$/u;

function codePoints(value: string, atMost: number): number {
  if (value.length <= atMost) return value.length; // code points never outnumber UTF-16 units
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

export function identifier(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID.test(value))
    throw invalid(field, 'is 1–64 letters, digits, - or _');
  return value;
}

/** A one-line text: names, titles, labels, tags, address parts, subjects. */
export function singleLine(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw invalid(field, 'is a string');
  if (value.length === 0) throw invalid(field, 'is empty (send null to clear it)');
  if (SURROUNDING_SPACE.test(value)) throw invalid(field, 'has leading or trailing spaces');
  if (CONTROL_OR_LONE_SURROGATE.test(value)) throw invalid(field, 'has control characters');
  if (codePoints(value, max) > max) throw invalid(field, `is at most ${max} characters`);
  return value;
}

/** A free text: notes, bodies. Line breaks and tabs are kept; other control characters are not. */
export function multiLine(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw invalid(field, 'is a string');
  if (value.length === 0) throw invalid(field, 'is empty (send null to clear it)');
  if (CONTROL_BUT_LINE_BREAKS_OR_LONE_SURROGATE.test(value))
    throw invalid(field, 'has control characters');
  if (codePoints(value, max) > max) throw invalid(field, `is at most ${max} characters`);
  return value;
}

export function nullable<T>(
  value: unknown,
  field: string,
  check: (value: unknown, field: string) => T,
): T | null {
  return value === null || value === undefined ? null : check(value, field);
}

/** Null clears a list as it clears any other field: one meaning of "none" for every field. */
function list(value: unknown, field: string, max: number): readonly unknown[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw invalid(field, 'is a list');
  if (value.length > max) throw invalid(field, `has at most ${max} entries`);
  return value as readonly unknown[];
}

function record(value: unknown, field: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(field, 'is an object');
  return value as Readonly<Record<string, unknown>>;
}

function label(value: unknown, field: string): { label?: string } {
  // Absent, not null, when there is none: equal entries must compare (and replay) equal.
  const checked = nullable(value, field, (v, f) => singleLine(v, f, CONTACT_LIMITS.labelLength));
  return checked === null ? {} : { label: checked };
}

/**
 * Emails arrive normalised. A second entry for the same mailbox (compared case-insensitively) is
 * refused rather than collapsed: collapsing would have to pick one of two labels silently.
 */
export function emails(value: unknown): readonly ContactEmail[] {
  const seen = new Set<string>();
  return list(value, 'emails', CONTACT_LIMITS.emails).map((entry, i) => {
    const { address, label: given } = record(entry, `emails[${i}]`);
    const field = `emails[${i}].address`;
    if (
      typeof address !== 'string' ||
      address.length > CONTACT_LIMITS.emailLength ||
      !EMAIL.test(address) ||
      CONTROL_OR_LONE_SURROGATE.test(address)
    )
      throw invalid(field, 'is not a normalised email address');
    const mailbox = address.toLowerCase();
    if (seen.has(mailbox)) throw invalid(field, 'repeats an address of this contact');
    seen.add(mailbox);
    return { address, ...label(given, `emails[${i}].label`) };
  });
}

/** Phone numbers arrive in E.164; a repeated number is refused, as for emails. */
export function phones(value: unknown): readonly ContactPhone[] {
  const seen = new Set<string>();
  return list(value, 'phones', CONTACT_LIMITS.phones).map((entry, i) => {
    const { number, label: given } = record(entry, `phones[${i}]`);
    const field = `phones[${i}].number`;
    if (typeof number !== 'string' || !E164.test(number)) throw invalid(field, 'is not E.164');
    if (seen.has(number)) throw invalid(field, 'repeats a number of this contact');
    seen.add(number);
    return { number, ...label(given, `phones[${i}].label`) };
  });
}

/** Tags are case-sensitive and kept in the order given; a repeated tag is refused. */
export function tags(value: unknown): readonly string[] {
  const seen = new Set<string>();
  return list(value, 'tags', CONTACT_LIMITS.tags).map((entry, i) => {
    const tag = singleLine(entry, `tags[${i}]`, CONTACT_LIMITS.tagLength);
    if (seen.has(tag)) throw invalid(`tags[${i}]`, 'repeats a tag of this contact');
    seen.add(tag);
    return tag;
  });
}

/** An address with no part set is no address: null, so "none" has one spelling. */
export function address(value: unknown): ContactAddress | null {
  if (value === null || value === undefined) return null;
  const given = record(value, 'address');
  const parts = Object.fromEntries(
    ADDRESS_PARTS.map((part) => [
      part,
      nullable(given[part], `address.${part}`, (v, f) =>
        singleLine(v, f, CONTACT_LIMITS.addressPartLength),
      ),
    ]),
  ) as unknown as ContactAddress;
  return ADDRESS_PARTS.every((part) => parts[part] === null) ? null : parts;
}

/**
 * An ISO-8601 instant: a date, a time to the minute or finer, and `Z` or an offset (a bare date or
 * local time names no instant). Kept as UTC in `toISOString()` form, so the log and the read
 * models sort and compare them as strings.
 */
export function instant(value: unknown, field: string): string {
  const match = typeof value === 'string' ? INSTANT.exec(value) : null;
  if (!match) throw invalid(field, 'is an ISO-8601 date and time with Z or an offset');
  const [year, month, day, hour, minute, second] = match
    .slice(1, 7)
    .map((part) => Number(part ?? 0));
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const sign = match[8] === '-' ? -1 : 1;
  const offsetHours = Number(match[9] ?? 0);
  const offsetMinutes = Number(match[10] ?? 0);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  // A day the month lacks rolls over into the next month (or back, for day 00).
  const calendarDay = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1;
  if (
    !calendarDay ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offsetHours > 23 ||
    offsetMinutes > 59
  )
    throw invalid(field, 'is not a valid date and time');
  const utc = new Date(date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 0 || utcYear > 9999) throw invalid(field, 'is outside years 0000–9999');
  return utc.toISOString();
}

export function interactionType(value: unknown): InteractionType {
  if (!(INTERACTION_TYPES as readonly unknown[]).includes(value))
    throw invalid('type', `is one of ${INTERACTION_TYPES.join(', ')}`);
  return value as InteractionType;
}

export function direction(value: unknown): InteractionDirection | null {
  if (value === null || value === undefined) return null;
  if (!(INTERACTION_DIRECTIONS as readonly unknown[]).includes(value))
    throw invalid('direction', `is one of ${INTERACTION_DIRECTIONS.join(', ')}`);
  return value as InteractionDirection;
}

export function durationSeconds(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 0 ||
    value > CONTACT_LIMITS.maxDurationSeconds
  )
    throw invalid(
      'durationSeconds',
      `is a whole number from 0 to ${CONTACT_LIMITS.maxDurationSeconds}`,
    );
  return value;
}

export function completed(value: unknown): boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'boolean') throw invalid('completed', 'is true or false');
  return value;
}
