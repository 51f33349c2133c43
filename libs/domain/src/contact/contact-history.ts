import {
  ADDRESS_PARTS,
  CONTACT_FIELDS,
  type ContactEmail,
  type ContactEvent,
  type ContactEventType,
  type ContactFields,
  type ContactPhone,
  type ErasedContactEvent,
  INTERACTION_FIELDS,
} from './contact.events';
import {
  EMPTY_CONTACT_FIELDS,
  evolveContact,
  initialContactState,
  type Interaction,
  type ContactState,
} from './contact';
import { sameValue } from './same-value';

export type HistoryValue =
  | string
  | number
  | boolean
  | null
  | readonly string[]
  | readonly ContactEmail[]
  | readonly ContactPhone[];

/**
 * One field's change, as API.md's history items show it. Field names:
 * - a contact field by its API name (`firstName`, `notes`, …); lists (`emails`, `phones`, `tags`)
 *   as whole lists, before and after, because entries have no ids of their own;
 * - an address part as `address.city` (an address is a unit in commands, but a reader wants to see
 *   which line moved);
 * - `archived` (true/false), `mergedInto` (the target's id), `mergedFrom` (the list of sources);
 * - an interaction's field as `interactions.<interactionId>.<field>`: from null when logged, to
 *   null when removed.
 * A contact that does not exist reads as an empty one, so creation lists the fields it set.
 */
export interface FieldChange {
  readonly field: string;
  readonly before: HistoryValue;
  readonly after: HistoryValue;
}

export interface ContactHistoryItem {
  readonly type: ContactEventType;
  readonly changes: readonly FieldChange[];
}

function contactFields(state: ContactState): ContactFields {
  return state.status === 'none' ? EMPTY_CONTACT_FIELDS : state.fields;
}

function diffFields(before: ContactFields, after: ContactFields, changes: FieldChange[]): void {
  if (before === after) return;
  for (const field of CONTACT_FIELDS) {
    if (field === 'address') {
      for (const part of ADDRESS_PARTS) {
        const from = before.address?.[part] ?? null;
        const to = after.address?.[part] ?? null;
        if (from !== to) changes.push({ field: `address.${part}`, before: from, after: to });
      }
    } else if (!sameValue(before[field], after[field])) {
      changes.push({ field, before: before[field], after: after[field] });
    }
  }
}

const NO_INTERACTIONS: ReadonlyMap<string, Interaction> = new Map();

function diffInteractions(
  before: ReadonlyMap<string, Interaction>,
  after: ReadonlyMap<string, Interaction>,
  changes: FieldChange[],
): void {
  if (before === after) return;
  const ids = new Set([...before.keys(), ...after.keys()]);
  for (const id of ids) {
    const from = before.get(id);
    const to = after.get(id);
    if (from === to) continue; // evolve keeps untouched interactions as the same object
    for (const field of INTERACTION_FIELDS) {
      const was = from?.[field] ?? null;
      const is = to?.[field] ?? null;
      if (was !== is)
        changes.push({ field: `interactions.${id}.${field}`, before: was, after: is });
    }
  }
}

/** Every field that differs between two states of one contact, in a stable order. */
export function diffContact(before: ContactState, after: ContactState): FieldChange[] {
  const changes: FieldChange[] = [];
  diffFields(contactFields(before), contactFields(after), changes);
  const wasArchived = before.status === 'archived';
  const isArchived = after.status === 'archived';
  if (wasArchived !== isArchived)
    changes.push({ field: 'archived', before: wasArchived, after: isArchived });
  const mergedIntoBefore = before.status === 'archived' ? before.mergedInto : null;
  const mergedIntoAfter = after.status === 'archived' ? after.mergedInto : null;
  if (mergedIntoBefore !== mergedIntoAfter)
    changes.push({ field: 'mergedInto', before: mergedIntoBefore, after: mergedIntoAfter });
  const mergedFromBefore = before.status === 'none' ? [] : before.mergedFrom;
  const mergedFromAfter = after.status === 'none' ? [] : after.mergedFrom;
  if (!sameValue(mergedFromBefore, mergedFromAfter))
    changes.push({ field: 'mergedFrom', before: mergedFromBefore, after: mergedFromAfter });
  diffInteractions(
    before.status === 'none' ? NO_INTERACTIONS : before.interactions,
    after.status === 'none' ? NO_INTERACTIONS : after.interactions,
    changes,
  );
  return changes;
}

/** What history shows in place of a value that erasure made unreadable. */
export const ERASED_VALUE = '[erased]';

const ERASED_CHANGE: FieldChange = {
  field: ERASED_VALUE,
  before: ERASED_VALUE,
  after: ERASED_VALUE,
};

/**
 * A contact's history, one item per event and in the same order, with the changes each made. The
 * caller adds what the log's metadata holds: version (the revision), time, actor and request id.
 *
 * After an erasure the earlier events can no longer be read: each keeps its item (type, and the
 * envelope's who and when) with one change whose field and values are all `[erased]`, since even
 * which fields it touched was in the payload. The erasure itself shows `erased` going to true and
 * nothing else: no value of the contact is ever listed as its "before".
 */
export function contactHistory(
  events: Iterable<ContactEvent | ErasedContactEvent>,
  from: ContactState = initialContactState,
): ContactHistoryItem[] {
  const items: ContactHistoryItem[] = [];
  let state = from;
  for (const event of events) {
    if ('erased' in event) {
      items.push({ type: event.type, changes: [ERASED_CHANGE] });
      continue;
    }
    const next = evolveContact(state, event);
    items.push({
      type: event.type,
      changes:
        event.type === 'ContactErased'
          ? [{ field: 'erased', before: false, after: true }]
          : diffContact(state, next),
    });
    state = next;
  }
  return items;
}
