import { Inject, Injectable, Optional } from '@nestjs/common';
import { SubjectErasedError } from '@beecastle/crypto';
import {
  ContactValidationError,
  evolveContact,
  foldContact,
  type ContactEvent,
  type ContactState,
} from '@beecastle/domain';
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  streamName,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  type StreamAppend,
} from '@beecastle/event-store';
import {
  decodeContactEventData,
  encodeContactEventData,
  readableContactEvents,
} from '@beecastle/read-model';
import { EVENT_STORE } from '../event-store/event-store.module';
import { ProblemException } from '../http/problem.exception';
import type { CommandContext } from '../organisations/command-context';
import { toNewEvent } from '../organisations/new-event';
import { CONTACT_STATES, ContactStates, type RememberedContact } from './contact-states';

export interface LoadedContact {
  readonly state: ContactState;
  /** The stream's last revision: what an append expects, and the contact's `version`. */
  readonly revision: bigint | 'no_stream';
  /** The stream as read; empty when the state is the one this process remembers (ContactStates). */
  readonly events: readonly RecordedEvent[];
}

/** What a handler decided: the events to append (none is fine) and what to answer. */
export interface ContactDecision<R> {
  readonly events: readonly ContactEvent[];
  readonly result: R;
}

/** A decision spanning two contacts, each with its own events (either list may be empty). */
export interface PairDecision<R> {
  readonly first: readonly ContactEvent[];
  readonly second: readonly ContactEvent[];
  readonly result: R;
}

/** The answer, and the contact's version after the change (its ETag). */
export interface ContactChanged<R> {
  readonly result: R;
  readonly version: number;
}

/** A stream revision as the API shows it: a plain number (`-1` for a contact not yet created). */
export function versionOf(revision: bigint | 'no_stream'): number {
  return revision === 'no_stream' ? -1 : Number(revision);
}

// Without a version from the client, a concurrent change is not the client's conflict: decide
// again on the new state, a few times, then give up.
const ATTEMPTS = 5;

export function contactStream(organisationId: string, contactId: string): string {
  return streamName('contact', organisationId, contactId);
}

/** The client's If-Match named a version the contact no longer has. */
export function preconditionFailed(): ProblemException {
  return new ProblemException(
    412,
    'PRECONDITION_FAILED',
    'The contact has changed since the version in If-Match; read it again and retry.',
  );
}

export function concurrentChange(): ProblemException {
  return new ProblemException(
    409,
    'CONCURRENT_CHANGE',
    'The contact kept changing while this request was decided; try again.',
  );
}

/**
 * Runs a decision. The domain names the field it refuses; the answer says which, as every other
 * validation answer does (the value is never echoed).
 */
async function decision<T>(decide: () => T | Promise<T>): Promise<T> {
  try {
    return await decide();
  } catch (error) {
    if (!(error instanceof ContactValidationError)) throw error;
    throw new ProblemException(
      400,
      'VALIDATION_FAILED',
      `The request is not valid: ${error.message}.`,
      {
        fields: [error.field],
      },
    );
  }
}

/** Events to append, and the same events as a reader of the log will decode them. */
interface Encoded {
  readonly events: NewEvent[];
  /** The events as a read of the log will give them back (decoded from the bytes written). */
  stored(): ContactEvent[];
}

/**
 * A contact's stream: read and fold it, append what was decided with the revision it was decided
 * on. Contacts are not waited for: `GET /v1/contacts/{id}` folds the stream when its row lags.
 *
 * What this process writes it remembers (ContactStates), and the next change to the same contact
 * is decided on that state without reading the stream. Only an append that succeeds answers from
 * it: that append names the remembered revision, so it proves nothing was written in between.
 * Anything else (a refusal, a decision to change nothing, a conflict) is decided again from the
 * log, so every answer is the one reading the stream would have given.
 */
@Injectable()
export class ContactRepository {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Optional() @Inject(CONTACT_STATES) private readonly states = new ContactStates(),
  ) {}

  async load(organisationId: string, contactId: string): Promise<LoadedContact> {
    try {
      const events = await this.store.readStream(contactStream(organisationId, contactId));
      return {
        state: foldContact(readableContactEvents(events)),
        revision: events[events.length - 1].revision,
        events,
      };
    } catch (error) {
      if (error instanceof StreamNotFoundError) {
        return { state: foldContact([]), revision: 'no_stream', events: [] };
      }
      throw error;
    }
  }

  /**
   * A contact the server has just named (randomUUID): decided on the empty state and appended
   * with `no_stream`, without reading its stream, which cannot exist. A WrongExpectedVersion here
   * means an id was used twice: a bug to report, not a conflict to retry.
   */
  async create<R>(
    context: CommandContext,
    contactId: string,
    decide: (contact: LoadedContact, now: Date) => ContactDecision<R> | Promise<ContactDecision<R>>,
  ): Promise<ContactChanged<R>> {
    const none: LoadedContact = { state: foldContact([]), revision: 'no_stream', events: [] };
    const { events, result } = await decision(() => decide(none, new Date()));
    if (events.length === 0) return { result, version: versionOf(none.revision) };
    const stream = contactStream(context.organisationId, contactId);
    const encoded = encode(events, context);
    try {
      const appended = await this.store.appendToStream(stream, encoded.events, {
        expectedRevision: 'no_stream',
      });
      this.remember(stream, appended.nextExpectedRevision, none.state, encoded);
      return { result, version: Number(appended.nextExpectedRevision) };
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      throw new Error(`The new contact id ${contactId} was already in use`, { cause: error });
    }
  }

  /**
   * Read, decide, append with the expected revision. With a version from the client (If-Match),
   * a contact at another version, or one changed before the append lands, answers 412 and appends
   * nothing. Without one, a conflicting append starts over from the read, a few times.
   */
  async change<R>(
    context: CommandContext,
    contactId: string,
    ifMatch: number | undefined,
    decide: (contact: LoadedContact, now: Date) => ContactDecision<R> | Promise<ContactDecision<R>>,
  ): Promise<ContactChanged<R>> {
    const stream = contactStream(context.organisationId, contactId);
    const remembered = this.states.get(stream);
    if (remembered && (ifMatch === undefined || versionOf(remembered.revision) === ifMatch)) {
      const changed = await this.changeRemembered(context, stream, remembered, decide);
      if (changed) return changed;
    }
    for (let attempt = 1; ; attempt += 1) {
      const contact = await this.load(context.organisationId, contactId);
      // A missing contact is the decision's 404, whatever version was named.
      if (
        ifMatch !== undefined &&
        contact.state.status !== 'none' &&
        versionOf(contact.revision) !== ifMatch
      )
        throw preconditionFailed();
      const { events, result } = await decision(() => decide(contact, new Date()));
      if (events.length === 0) return { result, version: versionOf(contact.revision) };
      const encoded = encode(events, context);
      try {
        const appended = await this.store.appendToStream(stream, encoded.events, {
          expectedRevision: contact.revision,
        });
        this.remember(stream, appended.nextExpectedRevision, contact.state, encoded);
        return { result, version: Number(appended.nextExpectedRevision) };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        if (ifMatch !== undefined) throw preconditionFailed();
        if (attempt === ATTEMPTS) throw concurrentChange();
      }
    }
  }

  /**
   * As `change`, for a decision about two contacts (a merge): both streams are appended in one
   * atomic append, the first contact's events first, so neither half is ever seen alone. If-Match
   * names the first contact's version; a conflict on it answers 412, one on the second retries.
   * Answers with the first contact's version.
   */
  async changePair<R>(
    context: CommandContext,
    [firstId, secondId]: readonly [string, string],
    ifMatch: number | undefined,
    decide: (
      first: LoadedContact,
      second: LoadedContact,
      now: Date,
    ) => PairDecision<R> | Promise<PairDecision<R>>,
  ): Promise<ContactChanged<R>> {
    const firstStream = contactStream(context.organisationId, firstId);
    for (let attempt = 1; ; attempt += 1) {
      const [first, second] = await Promise.all([
        this.load(context.organisationId, firstId),
        this.load(context.organisationId, secondId),
      ]);
      if (
        ifMatch !== undefined &&
        first.state.status !== 'none' &&
        versionOf(first.revision) !== ifMatch
      )
        throw preconditionFailed();
      const decided = await decision(() => decide(first, second, new Date()));
      const changes = [
        { stream: firstStream, loaded: first, events: decided.first },
        {
          stream: contactStream(context.organisationId, secondId),
          loaded: second,
          events: decided.second,
        },
      ]
        .filter(({ events }) => events.length > 0)
        .map((change) => ({ ...change, encoded: encode(change.events, context) }));
      const appends: StreamAppend[] = changes.map(({ stream, loaded, encoded }) => ({
        stream,
        events: encoded.events,
        expectedRevision: loaded.revision,
      }));
      if (appends.length === 0)
        return { result: decided.result, version: versionOf(first.revision) };
      try {
        const appended = await this.store.appendToStreams(appends);
        changes.forEach(({ stream, loaded, encoded }, i) =>
          this.remember(stream, appended[i].nextExpectedRevision, loaded.state, encoded),
        );
        const own = appends.findIndex((a) => a.stream === firstStream);
        const version =
          own === -1 ? versionOf(first.revision) : Number(appended[own].nextExpectedRevision);
        return { result: decided.result, version };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        if (ifMatch !== undefined && error.stream === firstStream) throw preconditionFailed();
        if (attempt === ATTEMPTS) throw concurrentChange();
      }
    }
  }

  /**
   * Decides on the remembered state and appends at its revision. Undefined when only the log can
   * answer: the decision refused or changed nothing (the state may be behind the stream), or the
   * append found the stream moved on, or the contact erased meanwhile.
   */
  private async changeRemembered<R>(
    context: CommandContext,
    stream: string,
    remembered: RememberedContact,
    decide: (contact: LoadedContact, now: Date) => ContactDecision<R> | Promise<ContactDecision<R>>,
  ): Promise<ContactChanged<R> | undefined> {
    const contact: LoadedContact = {
      state: remembered.state,
      revision: remembered.revision,
      events: [],
    };
    let decided: ContactDecision<R>;
    try {
      decided = await decide(contact, new Date());
    } catch {
      return undefined;
    }
    if (decided.events.length === 0) return undefined;
    const encoded = encode(decided.events, context);
    try {
      const appended = await this.store.appendToStream(stream, encoded.events, {
        expectedRevision: remembered.revision,
      });
      this.remember(stream, appended.nextExpectedRevision, remembered.state, encoded);
      return { result: decided.result, version: Number(appended.nextExpectedRevision) };
    } catch (error) {
      // Both are refused before anything is written.
      if (!(error instanceof WrongExpectedVersionError || error instanceof SubjectErasedError))
        throw error;
      this.states.forget(stream);
      return undefined;
    }
  }

  /** The state after `encoded` was appended at `revision`, folded as a reader would fold it. */
  private remember(stream: string, revision: bigint, before: ContactState, encoded: Encoded): void {
    if (!this.states.keepsAny) return;
    let state = before;
    for (const event of encoded.stored()) state = evolveContact(state, event);
    this.states.remember(stream, revision, state);
  }
}

function encode(events: readonly ContactEvent[], context: CommandContext): Encoded {
  const data = events.map(encodeContactEventData);
  return {
    events: events.map((event, i) => toNewEvent(event, data[i], context)),
    stored: () => events.map((event, i) => decodeContactEventData(event.type, data[i])),
  };
}
