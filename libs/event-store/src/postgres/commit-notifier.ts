import type { Queryable } from './event-rows';
import { EVENTS_CHANNEL } from './events-channel';

const GATHER_MS = 2;
const NOTIFY = { name: 'bc_notify_events', text: `SELECT pg_notify('${EVENTS_CHANNEL}', $1)` };
// One statement for the organisations of a multi-stream append.
const NOTIFY_EACH = {
  name: 'bc_notify_events_each',
  text: `SELECT pg_notify('${EVENTS_CHANNEL}', o) FROM unnest($1::text[]) AS o`,
};

/**
 * Wakes subscribers once an append has committed. Sent in a statement of its own rather than inside
 * the append: PostgreSQL holds a global lock from before a notifying commit until it is flushed,
 * which would make concurrent appends commit one at a time. A notification without an xid commits
 * without a flush, so the lock is held for microseconds.
 *
 * Coalesced per organisation: while one is in flight, further appends only ask for one more after
 * it, so a burst costs a handful of notifications and every append is still followed by one sent
 * after its commit. If a notification is lost (a crash, a broken connection), subscribers' polling
 * finds the events anyway.
 */
export class CommitNotifier {
  private readonly inFlight = new Map<string, { again: boolean; done: Promise<void> }>();

  constructor(private readonly db: Queryable) {}

  notify(organisationId: string): void {
    const pending = this.inFlight.get(organisationId);
    if (pending) {
      pending.again = true;
      return;
    }
    const entry = { again: false, done: Promise.resolve() };
    this.inFlight.set(organisationId, entry);
    entry.done = this.send(organisationId, entry);
  }

  /** Waits for notifications already asked for (on close, so none is cut off). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0)
      await Promise.all([...this.inFlight.values()].map((e) => e.done));
  }

  /** Inside a caller's transaction: PostgreSQL delivers them when (and only if) that commits. */
  static async notifyAtCommit(db: Queryable, ...organisationIds: string[]): Promise<void> {
    if (organisationIds.length === 1) {
      await db.query({ ...NOTIFY, values: organisationIds });
      return;
    }
    await db.query({ ...NOTIFY_EACH, values: [organisationIds] });
  }

  private async send(organisationId: string, entry: { again: boolean }): Promise<void> {
    do {
      // A short gathering window: during a burst, one notification then covers many appends.
      await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
      entry.again = false;
      try {
        await this.db.query({ ...NOTIFY, values: [organisationId] });
      } catch {
        // Subscribers poll as a fallback; an append must not fail because a wake-up did.
      }
    } while (entry.again);
    this.inFlight.delete(organisationId);
  }
}
