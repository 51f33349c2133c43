import type { ContactState } from '@beecastle/domain';

/** A contact as this process last wrote it: its state and the stream revision that state is at. */
export interface RememberedContact {
  readonly state: ContactState;
  readonly revision: bigint;
}

export interface ContactStatesOptions {
  /**
   * Bound on what is kept, in units of one contact plus one per interaction (live or removed), so
   * a contact with a long history weighs what it holds. The least recently written go first.
   */
  readonly maxWeight?: number;
  /** How long a state is kept after it was remembered (ms): then it is dropped, used or not. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/** Injection token for a ContactStates other than the default (tests). */
export const CONTACT_STATES = Symbol('CONTACT_STATES');

export const CONTACT_STATES_DEFAULTS = { maxWeight: 100_000, ttlMs: 5 * 60_000 } as const;

interface Entry extends RememberedContact {
  readonly weight: number;
  readonly at: number;
}

function weightOf(state: ContactState): number {
  if (state.status === 'none') return 1;
  return 1 + state.interactions.size + state.removedInteractionIds.size;
}

/**
 * The states of contacts this process has just written, by stream, so that the next change to one
 * (typically a PATCH with the ETag the last write answered) is decided without reading its
 * stream back. Only a hint: the append still names the revision the state is at, so if anyone
 * wrote in between, here or in another process, the append is refused and the caller decides
 * again from the log. Bounded by weight and by age, so plaintext does not linger: an entry is
 * dropped when its contact is erased here, and at the latest `ttlMs` after its last write.
 */
export class ContactStates {
  // In the order they were remembered (each remember re-inserts), so oldest first.
  private readonly entries = new Map<string, Entry>();
  private weight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxWeight: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: ContactStatesOptions = {}) {
    this.maxWeight = options.maxWeight ?? CONTACT_STATES_DEFAULTS.maxWeight;
    this.ttlMs = options.ttlMs ?? CONTACT_STATES_DEFAULTS.ttlMs;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** False when the bound is 0 (`CONTACT_STATE_CACHE_SIZE=0`): nothing is ever remembered. */
  get keepsAny(): boolean {
    return this.maxWeight > 0;
  }

  get(stream: string): RememberedContact | undefined {
    this.sweep();
    return this.entries.get(stream);
  }

  /**
   * Remembers the state at `revision`, unless a later revision is remembered already (two writes
   * here may finish in either order). An erased contact is not kept: there is nothing to decide
   * on, and nothing of it should stay in memory.
   */
  remember(stream: string, revision: bigint, state: ContactState): void {
    this.sweep();
    const known = this.entries.get(stream);
    if (known !== undefined && known.revision > revision) return;
    this.forget(stream);
    if (state.status === 'none') return;
    const weight = weightOf(state);
    if (weight > this.maxWeight) return;
    this.entries.set(stream, { state, revision, weight, at: this.now() });
    this.weight += weight;
    for (const oldest of this.entries.keys()) {
      if (this.weight <= this.maxWeight) break;
      this.forget(oldest);
    }
    this.schedule();
  }

  forget(stream: string): void {
    const entry = this.entries.get(stream);
    if (entry === undefined) return;
    this.entries.delete(stream);
    this.weight -= entry.weight;
  }

  /** Drops the states past their time, oldest first. */
  private sweep(): void {
    const now = this.now();
    for (const [stream, entry] of this.entries) {
      if (now - entry.at <= this.ttlMs) break;
      this.forget(stream);
    }
  }

  /**
   * While anything is kept, a timer drops it when its time is up, so that a state nobody asks for
   * again does not stay until it is pushed out. It does not keep the process alive.
   */
  private schedule(): void {
    if (this.timer !== undefined) return;
    const [oldest] = this.entries.values();
    if (oldest === undefined) return;
    const wait = Math.max(0, oldest.at + this.ttlMs - this.now()) + 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep();
      this.schedule();
    }, wait);
    this.timer.unref();
  }
}
