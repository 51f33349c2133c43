import { hasPermission, type Role } from '../access/permissions';
import type { Actor } from '../shared/actor';
import { DomainError, forbidden } from '../shared/domain-error';
import {
  CONTACT_FIELDS,
  type ContactChanges,
  type ContactEvent,
  type ContactField,
  type ContactFields,
  INTERACTION_FIELDS,
  type InteractionField,
  type InteractionFields,
  type InteractionType,
  type MergeTakeover,
} from './contact.events';
import {
  address,
  CONTACT_LIMITS,
  ContactValidationError,
  completed,
  direction,
  durationSeconds,
  emails,
  identifier,
  instant,
  interactionType,
  multiLine,
  nullable,
  phones,
  singleLine,
  tags,
} from './contact.validation';
import { sameValue } from './same-value';

export type Interaction = InteractionFields;

interface ContactData {
  readonly contactId: string;
  readonly fields: ContactFields;
  /** Live interactions, in the order they were logged. */
  readonly interactions: ReadonlyMap<string, Interaction>;
  /** Removed interactions' ids: never found again, never reused. */
  readonly removedInteractionIds: ReadonlySet<string>;
  /** Contacts merged into this one, in merge order. */
  readonly mergedFrom: readonly string[];
}

export type ContactState =
  /** Never created, or erased (GDPR): either way there is no contact to read or change. */
  | { readonly status: 'none'; readonly erased?: true }
  | ({ readonly status: 'active' } & ContactData)
  | ({
      readonly status: 'archived';
      /** Set when archived by a merge: for good, as part of that contact. */
      readonly mergedInto: string | null;
    } & ContactData);

export type ExistingContact = Exclude<ContactState, { status: 'none' }>;

export const initialContactState: ContactState = { status: 'none' };

export const EMPTY_CONTACT_FIELDS: ContactFields = {
  firstName: null,
  lastName: null,
  emails: [],
  phones: [],
  company: null,
  jobTitle: null,
  address: null,
  tags: [],
  notes: null,
  ownerUserId: null,
};

type Writable<T> = { -readonly [K in keyof T]: T[K] };

function setField<T, K extends keyof T>(target: Partial<Writable<T>>, key: K, value: T[K]): void {
  target[key] = value;
}

function withChanges(fields: ContactFields, changes: ContactChanges): ContactFields {
  const next: Writable<ContactFields> = { ...fields };
  for (const key of CONTACT_FIELDS) {
    if (changes[key] !== undefined) setField(next, key, changes[key]);
  }
  return next;
}

function withTakeover(fields: ContactFields, taken: MergeTakeover): ContactFields {
  return withChanges(fields, {
    ...taken,
    ...(taken.emails && { emails: [...fields.emails, ...taken.emails] }),
    ...(taken.phones && { phones: [...fields.phones, ...taken.phones] }),
    ...(taken.tags && { tags: [...fields.tags, ...taken.tags] }),
  });
}

function withInteraction(
  interactions: ReadonlyMap<string, Interaction>,
  id: string,
  interaction: Interaction,
): ReadonlyMap<string, Interaction> {
  return new Map(interactions).set(id, interaction);
}

const ERASED: ContactState = { status: 'none', erased: true };

export function evolveContact(state: ContactState, event: ContactEvent): ContactState {
  // Erasure is final: nothing after it brings the contact back.
  if (state.status === 'none' && state.erased) return state;
  if (event.type === 'ContactErased') return ERASED;
  if (event.type === 'ContactCreated') {
    const { contactId, ...created } = event.data;
    return {
      status: 'active',
      contactId,
      fields: withChanges(EMPTY_CONTACT_FIELDS, created),
      interactions: new Map(),
      removedInteractionIds: new Set(),
      mergedFrom: [],
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'ContactUpdated':
      return { ...state, fields: withChanges(state.fields, event.data) };
    case 'ContactArchived':
      return state.status === 'archived'
        ? state
        : { ...state, status: 'archived', mergedInto: null };
    case 'ContactUnarchived': {
      if (state.status === 'active') return state;
      const { mergedInto: _mergedInto, ...rest } = state;
      return { ...rest, status: 'active' };
    }
    case 'ContactMerged':
      return { ...state, status: 'archived', mergedInto: event.data.targetId };
    case 'ContactMergeReceived':
      return {
        ...state,
        fields: withTakeover(state.fields, event.data.takenOver),
        mergedFrom: [...state.mergedFrom, event.data.sourceId],
      };
    case 'InteractionLogged': {
      const { interactionId, ...interaction } = event.data;
      return {
        ...state,
        interactions: withInteraction(state.interactions, interactionId, interaction),
      };
    }
    case 'InteractionUpdated': {
      const { interactionId, ...changes } = event.data;
      const current = state.interactions.get(interactionId);
      if (!current) return state;
      const next: Writable<Interaction> = { ...current };
      for (const key of INTERACTION_FIELDS) {
        if (changes[key] !== undefined) setField(next, key, changes[key]);
      }
      return { ...state, interactions: withInteraction(state.interactions, interactionId, next) };
    }
    case 'InteractionRemoved': {
      const interactions = new Map(state.interactions);
      interactions.delete(event.data.interactionId);
      const removedInteractionIds = new Set(state.removedInteractionIds).add(
        event.data.interactionId,
      );
      return { ...state, interactions, removedInteractionIds };
    }
  }
}

export function foldContact(events: Iterable<ContactEvent>): ContactState {
  let state = initialContactState;
  for (const event of events) state = evolveContact(state, event);
  return state;
}

/** A contact's fields as given to a command: any subset, checked at run time whatever the types say. */
export type ContactInput = { readonly [K in ContactField]?: ContactFields[K] | null };

/** An interaction as logged: a type, and whatever else is known; `occurredAt` defaults to now. */
export type InteractionInput = { readonly type: InteractionType } & {
  readonly [K in Exclude<InteractionField, 'type'>]?: InteractionFields[K] | null;
};

export type ContactCommand =
  | { readonly type: 'CreateContact'; readonly contactId: string; readonly fields: ContactInput }
  /** Every field present is set (null or [] clears it); absent fields stay as they are. */
  | { readonly type: 'UpdateContact'; readonly changes: ContactInput }
  | { readonly type: 'ArchiveContact' }
  | { readonly type: 'UnarchiveContact' }
  | {
      readonly type: 'LogInteraction';
      readonly interactionId: string;
      readonly interaction: InteractionInput;
    }
  | {
      readonly type: 'UpdateInteraction';
      readonly interactionId: string;
      readonly changes: { readonly [K in InteractionField]?: InteractionFields[K] | null };
    }
  | { readonly type: 'RemoveInteraction'; readonly interactionId: string }
  /** GDPR erasure (`contacts:erase`): the caller destroys the contact's data key after appending. */
  | { readonly type: 'EraseContact' };

export interface MergeContacts {
  readonly type: 'MergeContacts';
  readonly sourceId: string;
  readonly targetId: string;
}

export interface ContactDecisionContext {
  readonly actor: Actor;
  /**
   * The actor's role in the organisation, from its state (`actorRole`): contacts hold no
   * membership. Undefined for a non-member; system actors (restore, seeding) need none.
   */
  readonly role: Role | undefined;
  /** The clock, passed in so decisions stay pure. */
  readonly now: Date;
}

function requireWrite(context: ContactDecisionContext): void {
  if (context.actor.type === 'system') return;
  if (!context.role || !hasPermission(context.role, 'contacts:write'))
    throw forbidden('contacts:write is needed');
}

const notFound = () => new DomainError('NOT_FOUND', 'No such contact');

function writable(state: ExistingContact): Extract<ContactState, { status: 'active' }> {
  if (state.status === 'archived')
    throw new DomainError(
      'CONTACT_ARCHIVED',
      state.mergedInto === null
        ? 'The contact is archived: unarchive it first'
        : 'The contact was merged into another and takes no more changes',
    );
  return state;
}

const CHECK_CONTACT_FIELD: { readonly [K in ContactField]: (value: unknown) => ContactFields[K] } =
  {
    firstName: (v) =>
      nullable(v, 'firstName', (s, f) => singleLine(s, f, CONTACT_LIMITS.nameLength)),
    lastName: (v) => nullable(v, 'lastName', (s, f) => singleLine(s, f, CONTACT_LIMITS.nameLength)),
    emails: (v) => emails(v),
    phones: (v) => phones(v),
    company: (v) =>
      nullable(v, 'company', (s, f) => singleLine(s, f, CONTACT_LIMITS.companyLength)),
    jobTitle: (v) =>
      nullable(v, 'jobTitle', (s, f) => singleLine(s, f, CONTACT_LIMITS.jobTitleLength)),
    address: (v) => address(v),
    tags: (v) => tags(v),
    notes: (v) => nullable(v, 'notes', (s, f) => multiLine(s, f, CONTACT_LIMITS.notesLength)),
    ownerUserId: (v) => nullable(v, 'ownerUserId', identifier),
  };

/** Checks and normalises the fields present; null clears any field, lists included. */
function checkContactInput(input: ContactInput): ContactChanges {
  const checked: Partial<Writable<ContactFields>> = {};
  for (const key of CONTACT_FIELDS) {
    if (input[key] === undefined) continue;
    setField(checked, key, CHECK_CONTACT_FIELD[key](input[key]));
  }
  return checked;
}

function changedContactFields(current: ContactFields, wanted: ContactChanges): ContactChanges {
  const changed: Partial<Writable<ContactFields>> = {};
  for (const key of CONTACT_FIELDS) {
    const value = wanted[key];
    if (value !== undefined && !sameValue(current[key], value)) setField(changed, key, value);
  }
  return changed;
}

const CHECK_INTERACTION_FIELD: {
  readonly [K in InteractionField]: (value: unknown) => InteractionFields[K] | null;
} = {
  type: (v) => interactionType(v),
  occurredAt: (v) => nullable(v, 'occurredAt', instant),
  subject: (v) => nullable(v, 'subject', (s, f) => singleLine(s, f, CONTACT_LIMITS.subjectLength)),
  body: (v) => nullable(v, 'body', (s, f) => multiLine(s, f, CONTACT_LIMITS.bodyLength)),
  direction: (v) => direction(v),
  durationSeconds: (v) => durationSeconds(v),
  dueAt: (v) => nullable(v, 'dueAt', instant),
  completed: (v) => completed(v),
};

function checkInteractionInput(input: Readonly<Partial<Record<InteractionField, unknown>>>): {
  [K in InteractionField]?: InteractionFields[K] | null;
} {
  const checked: { [K in InteractionField]?: InteractionFields[K] | null } = {};
  for (const key of INTERACTION_FIELDS) {
    if (input[key] === undefined) continue;
    setField(checked, key, CHECK_INTERACTION_FIELD[key](input[key]));
  }
  return checked;
}

/**
 * `dueAt` and `completed` belong to tasks. A task is not done until said so; another type carries
 * neither. `completed: false` on another type means "not a task thing" and is dropped; a due date or
 * `completed: true` on one contradicts its type and is refused.
 */
function taskRules(
  interaction: Interaction,
  given: { readonly dueAt?: unknown; readonly completed?: unknown },
): Interaction {
  if (interaction.type === 'task')
    return interaction.completed === null ? { ...interaction, completed: false } : interaction;
  if (given.dueAt !== undefined && given.dueAt !== null)
    throw new ContactValidationError('dueAt', 'is for tasks only');
  if (given.completed === true) throw new ContactValidationError('completed', 'is for tasks only');
  return { ...interaction, dueAt: null, completed: null };
}

function liveInteraction(state: ExistingContact, interactionId: string): Interaction {
  const interaction = state.interactions.get(interactionId);
  if (!interaction) throw new DomainError('NOT_FOUND', 'No such interaction');
  return interaction;
}

/**
 * Decides what a command means for one contact: the events to append, or a refusal with a stable
 * code. The permission check here is the authoritative one; route guards only fail fast. It comes
 * first, so a refused role learns nothing about the contact. Merges span two contacts: see
 * `decideMerge`.
 */
export function decideContact(
  command: ContactCommand,
  state: ContactState,
  context: ContactDecisionContext,
): ContactEvent[] {
  if (command.type === 'EraseContact') return decideErasure(state, context);
  requireWrite(context);
  if (command.type === 'CreateContact') {
    if (state.status !== 'none' || state.erased)
      throw new DomainError('ALREADY_EXISTS', 'The contact exists');
    const contactId = identifier(command.contactId, 'id');
    const fields = withChanges(EMPTY_CONTACT_FIELDS, checkContactInput(command.fields));
    return [{ type: 'ContactCreated', schemaVersion: 1, data: { contactId, ...fields } }];
  }
  if (state.status === 'none') throw notFound();

  switch (command.type) {
    case 'UpdateContact': {
      const contact = writable(state);
      const changed = changedContactFields(contact.fields, checkContactInput(command.changes));
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'ContactUpdated', schemaVersion: 1, data: changed }];
    }
    case 'ArchiveContact':
      if (state.status === 'archived') return [];
      return [{ type: 'ContactArchived', schemaVersion: 1, data: {} }];
    case 'UnarchiveContact':
      if (state.status === 'active') return [];
      if (state.mergedInto !== null)
        throw new DomainError('INVALID_STATE', 'A merged contact stays archived');
      return [{ type: 'ContactUnarchived', schemaVersion: 1, data: {} }];
    case 'LogInteraction': {
      const contact = writable(state);
      const interactionId = identifier(command.interactionId, 'interactionId');
      if (
        contact.interactions.has(interactionId) ||
        contact.removedInteractionIds.has(interactionId)
      )
        throw new DomainError('ALREADY_EXISTS', 'The interaction exists');
      const given = checkInteractionInput(command.interaction);
      const interaction = taskRules(
        {
          type: interactionType(given.type),
          occurredAt: given.occurredAt ?? context.now.toISOString(),
          subject: given.subject ?? null,
          body: given.body ?? null,
          direction: given.direction ?? null,
          durationSeconds: given.durationSeconds ?? null,
          dueAt: given.dueAt ?? null,
          completed: given.completed ?? null,
        },
        command.interaction,
      );
      return [
        { type: 'InteractionLogged', schemaVersion: 1, data: { interactionId, ...interaction } },
      ];
    }
    case 'UpdateInteraction': {
      const contact = writable(state);
      const current = liveInteraction(contact, command.interactionId);
      if (command.changes.type === null) throw new ContactValidationError('type', 'is required');
      if (command.changes.occurredAt === null)
        throw new ContactValidationError('occurredAt', 'is required');
      const given = checkInteractionInput(command.changes);
      const next: Writable<Interaction> = { ...current };
      for (const key of INTERACTION_FIELDS) {
        if (given[key] !== undefined) setField(next, key, given[key]);
      }
      const wanted = taskRules(next, command.changes);
      const changed: Partial<Writable<Interaction>> = {};
      for (const key of INTERACTION_FIELDS) {
        if (!sameValue(current[key], wanted[key])) setField(changed, key, wanted[key]);
      }
      if (Object.keys(changed).length === 0) return [];
      return [
        {
          type: 'InteractionUpdated',
          schemaVersion: 1,
          data: { interactionId: command.interactionId, ...changed },
        },
      ];
    }
    case 'RemoveInteraction': {
      const contact = writable(state);
      liveInteraction(contact, command.interactionId);
      return [
        {
          type: 'InteractionRemoved',
          schemaVersion: 1,
          data: { interactionId: command.interactionId },
        },
      ];
    }
  }
}

/**
 * Erasure of any contact, archived or merged ones included (what a merge target took over is the
 * target's, and stays). Erasing an erased contact decides nothing, so a retry after a failure
 * between the append and the key's destruction can finish the job.
 */
function decideErasure(state: ContactState, context: ContactDecisionContext): ContactEvent[] {
  if (
    context.actor.type !== 'system' &&
    (!context.role || !hasPermission(context.role, 'contacts:erase'))
  )
    throw forbidden('contacts:erase is needed');
  if (state.status === 'none') {
    if (state.erased) return [];
    throw notFound();
  }
  return [{ type: 'ContactErased', schemaVersion: 1, data: {} }];
}

/** One identity per contact: a name is taken as a pair, an address as a unit, never mixed. */
const FILLED_WHEN_EMPTY = ['company', 'jobTitle', 'address', 'notes', 'ownerUserId'] as const;

/**
 * What a target takes over from its source: emails (by mailbox, case-insensitive), phones and tags
 * it lacks, after its own; and values for fields it has empty. Its own values always win. A merge
 * that would take a list past its limit is refused: nothing is dropped silently.
 */
export function mergeTakeover(source: ContactFields, target: ContactFields): MergeTakeover {
  const taken: Partial<Writable<ContactFields>> = {};
  const mailboxes = new Set(target.emails.map((e) => e.address.toLowerCase()));
  const newEmails = source.emails.filter((e) => !mailboxes.has(e.address.toLowerCase()));
  const numbers = new Set(target.phones.map((p) => p.number));
  const newPhones = source.phones.filter((p) => !numbers.has(p.number));
  const ownTags = new Set(target.tags);
  const newTags = source.tags.filter((t) => !ownTags.has(t));
  const lists = [
    ['emails', target.emails.length + newEmails.length, CONTACT_LIMITS.emails],
    ['phones', target.phones.length + newPhones.length, CONTACT_LIMITS.phones],
    ['tags', target.tags.length + newTags.length, CONTACT_LIMITS.tags],
  ] as const;
  for (const [field, total, max] of lists) {
    if (total > max)
      throw new ContactValidationError(field, `the merge would leave the target more than ${max}`);
  }
  if (newEmails.length > 0) taken.emails = newEmails;
  if (newPhones.length > 0) taken.phones = newPhones;
  if (newTags.length > 0) taken.tags = newTags;
  const hasName = (fields: ContactFields) => fields.firstName !== null || fields.lastName !== null;
  if (!hasName(target) && hasName(source)) {
    taken.firstName = source.firstName;
    taken.lastName = source.lastName;
  }
  for (const key of FILLED_WHEN_EMPTY) {
    if (target[key] === null && source[key] !== null) setField(taken, key, source[key]);
  }
  return taken;
}

/**
 * Merging spans two streams, which are appended one after the other. Append the target's events
 * first: a crash in between then leaves a duplicate (the source still active), never a loss. A
 * retry completes a half-done merge (only the missing side's event) and decides nothing for a whole
 * one, so the command is safe to repeat.
 */
export function decideMerge(
  command: MergeContacts,
  source: ContactState,
  target: ContactState,
  context: ContactDecisionContext,
): { readonly source: ContactEvent[]; readonly target: ContactEvent[] } {
  requireWrite(context);
  if (command.sourceId === command.targetId)
    throw new ContactValidationError('sourceId', 'is the target itself');
  if (target.status === 'none' || source.status === 'none') throw notFound();
  if (target.contactId !== command.targetId || source.contactId !== command.sourceId)
    throw new DomainError('INVALID_STATE', 'The states given are not the contacts named');
  if (target.status === 'archived')
    throw new DomainError('CONTACT_ARCHIVED', 'An archived contact receives no merge');
  const sourceDone = source.status === 'archived' && source.mergedInto !== null;
  if (sourceDone && source.mergedInto !== command.targetId)
    throw new DomainError('INVALID_STATE', 'The source was merged into another contact');
  const targetDone = target.mergedFrom.includes(command.sourceId);
  return {
    source: sourceDone
      ? []
      : [{ type: 'ContactMerged', schemaVersion: 1, data: { targetId: command.targetId } }],
    target: targetDone
      ? []
      : [
          {
            type: 'ContactMergeReceived',
            schemaVersion: 1,
            data: {
              sourceId: command.sourceId,
              takenOver: mergeTakeover(source.fields, target.fields),
            },
          },
        ],
  };
}
