import { Inject, Injectable } from '@nestjs/common';
import {
  evolveOrganisation,
  initialOrganisationState,
  type OrganisationEvent,
  type OrganisationState,
} from '@beecastle/domain';
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  streamName,
  type EventStore,
  type ExpectedRevision,
} from '@beecastle/event-store';
import {
  decodeOrganisationEvent,
  encodeOrganisationEventData,
  ProjectionLagError,
} from '@beecastle/read-model';
import { EVENT_STORE } from '../event-store/event-store.module';
import { ProblemException } from '../http/problem.exception';
import { AccessProjectionWait } from './access-projection-wait';
import type { CommandContext } from './command-context';
import { toNewEvent } from './new-event';

export interface LoadedOrganisation {
  readonly state: OrganisationState;
  readonly revision: ExpectedRevision;
}

/** What a handler decided: the events to append (none is fine) and what to answer. */
export interface Decision<R> {
  readonly events: readonly OrganisationEvent[];
  readonly result: R;
}

// Organisation commands carry no version from the client, so a concurrent change to the same
// organisation is not the client's conflict: decide again on the new state, a few times.
const ATTEMPTS = 5;

/**
 * An organisation's stream: read and fold it, append what was decided with the revision it was
 * decided on, and wait until the access read model shows it.
 */
@Injectable()
export class OrganisationRepository {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly accessProjection: AccessProjectionWait,
  ) {}

  async load(organisationId: string): Promise<LoadedOrganisation> {
    try {
      const recorded = await this.store.readStream(stream(organisationId));
      return {
        state: recorded
          .map(decodeOrganisationEvent)
          .reduce(evolveOrganisation, initialOrganisationState),
        revision: recorded[recorded.length - 1].revision,
      };
    } catch (error) {
      if (error instanceof StreamNotFoundError) {
        return { state: initialOrganisationState, revision: 'no_stream' };
      }
      throw error;
    }
  }

  /**
   * Read, decide, append with the expected revision; if someone else appended in between, start
   * over from the read. Answers once the access read model has applied the events.
   */
  async change<R>(
    context: CommandContext,
    decide: (organisation: LoadedOrganisation, now: Date) => Decision<R> | Promise<Decision<R>>,
  ): Promise<R> {
    for (let attempt = 1; ; attempt += 1) {
      const organisation = await this.load(context.organisationId);
      const { events, result } = await decide(organisation, new Date());
      if (events.length === 0) return result;
      try {
        const appended = await this.store.appendToStream(
          stream(context.organisationId),
          events.map((event) => toNewEvent(event, encodeOrganisationEventData(event), context)),
          { expectedRevision: organisation.revision },
        );
        await this.accessProjection.until(appended.position).catch((error: unknown) => {
          if (!(error instanceof ProjectionLagError)) throw error;
          // Recorded, but not yet visible: say so rather than answer "done" or a bare 500.
          throw new ProblemException(
            503,
            'READ_MODEL_BEHIND',
            'The change was recorded but is not visible yet; it will be once the projector catches up.',
            {},
            { 'Retry-After': '1' },
          );
        });
        return result;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        if (attempt === ATTEMPTS) {
          throw new ProblemException(
            409,
            'CONCURRENT_CHANGE',
            'The organisation kept changing while this request was decided; try again.',
          );
        }
      }
    }
  }
}

function stream(organisationId: string): string {
  return streamName('organisation', organisationId, organisationId);
}
