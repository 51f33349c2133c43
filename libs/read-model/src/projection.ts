import type { PoolClient } from 'pg';
import type { RecordedEvent } from '@beecastle/event-store';

/**
 * The transaction a projection writes in. Read-model tables are under row-level security, so
 * before touching an organisation's rows the projection names it; the setting lives until the end
 * of the transaction only (`set_config(..., true)`), never on the pooled session.
 */
export interface ProjectionTransaction {
  readonly client: PoolClient;
  forOrganisation(organisationId: string): Promise<void>;
  /**
   * A statement already sent on `client` whose answer the projection does not need (a write), left
   * in flight: the batch commits only if it succeeds, and its commit may be sent behind it without
   * waiting for its answer, so that on a pipelining connection the two share a round trip.
   */
  defer(write: Promise<unknown>): void;
}

/**
 * A read model fed from the log. `apply` gets events in log order, in batches, inside the
 * transaction that also moves the checkpoint. Rows should carry the last applied stream revision
 * so a redelivered event changes nothing.
 */
export interface Projection {
  /** Stable: it keys the checkpoint and the leadership lock. */
  readonly name: string;
  /** Only these event types are delivered; the checkpoint still advances past the others. */
  readonly eventTypes?: readonly string[];
  apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void>;
}
