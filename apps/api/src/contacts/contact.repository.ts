import { Inject, Injectable } from '@nestjs/common';
import {
  ContactValidationError,
  foldContact,
  type ContactEvent,
  type ContactState,
} from '@beecastle/domain';
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  streamName,
  type EventStore,
  type RecordedEvent,
} from '@beecastle/event-store';
import { decodeContactEvent, encodeContactEventData } from '@beecastle/read-model';
import { EVENT_STORE } from '../event-store/event-store.module';
import { ProblemException } from '../http/problem.exception';
import type { CommandContext } from '../organisations/command-context';
import { toNewEvent } from '../organisations/new-event';

export interface LoadedContact {
  readonly state: ContactState;
  /** The stream's last revision: what an append expects, and the contact's `version`. */
  readonly revision: bigint | 'no_stream';
  readonly events: readonly RecordedEvent[];
}

/** What a handler decided: the events to append (none is fine) and what to answer. */
export interface ContactDecision<R> {
  readonly events: readonly ContactEvent[];
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
 * The domain names the field it refused; the answer says which, as every other validation
 * answer does (the value is never echoed).
 */
export function asFieldProblem(error: unknown): unknown {
  if (!(error instanceof ContactValidationError)) return error;
  return new ProblemException(
    400,
    'VALIDATION_FAILED',
    `The request is not valid: ${error.message}.`,
    {
      fields: [error.field],
    },
  );
}

/**
 * A contact's stream: read and fold it, append what was decided with the revision it was decided
 * on. Contacts are not waited for: `GET /v1/contacts/{id}` folds the stream when its row lags.
 */
@Injectable()
export class ContactRepository {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async load(organisationId: string, contactId: string): Promise<LoadedContact> {
    try {
      const events = await this.store.readStream(contactStream(organisationId, contactId));
      return {
        state: foldContact(events.map(decodeContactEvent)),
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
    for (let attempt = 1; ; attempt += 1) {
      const contact = await this.load(context.organisationId, contactId);
      // A missing contact is the decision's 404, whatever version was named.
      if (
        ifMatch !== undefined &&
        contact.state.status !== 'none' &&
        versionOf(contact.revision) !== ifMatch
      )
        throw preconditionFailed();
      const { events, result } = await Promise.resolve(decide(contact, new Date())).catch(
        (error: unknown) => {
          throw asFieldProblem(error);
        },
      );
      if (events.length === 0) return { result, version: versionOf(contact.revision) };
      try {
        const appended = await this.store.appendToStream(
          contactStream(context.organisationId, contactId),
          events.map((event) => toNewEvent(event, encodeContactEventData(event), context)),
          { expectedRevision: contact.revision },
        );
        return { result, version: Number(appended.nextExpectedRevision) };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        if (ifMatch !== undefined) throw preconditionFailed();
        if (attempt === ATTEMPTS) throw concurrentChange();
      }
    }
  }
}
