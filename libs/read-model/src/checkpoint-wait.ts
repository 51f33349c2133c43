import type { Pool } from 'pg';
import { comparePositions, formatPosition, type Position } from '@beecastle/event-store';
import { CheckpointStore } from './checkpoint-store';

export class ProjectionLagError extends Error {
  constructor(
    readonly projection: string,
    readonly target: Position,
    readonly reached: Position | undefined,
    readonly waitedMs: number,
  ) {
    super(
      `Projection ${projection} did not reach ${formatPosition(target)} within ${waitedMs} ms ` +
        `(at ${reached ? formatPosition(reached) : 'unknown'}): is a projector running?`,
    );
    this.name = 'ProjectionLagError';
  }
}

export interface CheckpointWaitOptions {
  /** Between two reads of the checkpoint while someone waits. */
  readonly pollMs?: number;
  /** After this, the wait fails: a write whose effect cannot be seen must not answer "done". */
  readonly timeoutMs?: number;
}

interface Waiter {
  readonly target: Position;
  readonly deadline: number;
  readonly started: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Read-your-writes: resolves once a projection's checkpoint has reached a log position, that is,
 * once the read model reflects everything up to and including it. All waiters of one projection
 * share one polling loop (one small query every `pollMs` while anyone waits, none otherwise), so a
 * burst of writes does not become a burst of checkpoint reads.
 */
export class CheckpointWait {
  private readonly checkpoints: CheckpointStore;
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly reached = new Map<string, Position>();

  constructor(pool: Pool, options: CheckpointWaitOptions = {}) {
    this.checkpoints = new CheckpointStore(pool);
    this.pollMs = options.pollMs ?? 3;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  until(projection: string, target: Position): Promise<void> {
    const known = this.reached.get(projection);
    if (known && comparePositions(known, target) >= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const waiter = { target, started, deadline: started + this.timeoutMs, resolve, reject };
      const set = this.waiters.get(projection);
      if (set) {
        set.add(waiter);
      } else {
        const first = new Set([waiter]);
        this.waiters.set(projection, first);
        void this.poll(projection, first);
      }
    });
  }

  private async poll(projection: string, waiting: Set<Waiter>): Promise<void> {
    while (waiting.size > 0) {
      let reached: Position | undefined;
      try {
        reached = await this.checkpoints.read(projection);
        this.reached.set(projection, reached);
      } catch {
        // A failed read is retried on the next round; waiters still time out at their deadline.
      }
      const now = Date.now();
      for (const waiter of waiting) {
        if (reached && comparePositions(reached, waiter.target) >= 0) {
          waiting.delete(waiter);
          waiter.resolve();
        } else if (now >= waiter.deadline) {
          waiting.delete(waiter);
          waiter.reject(
            new ProjectionLagError(projection, waiter.target, reached, now - waiter.started),
          );
        }
      }
      if (waiting.size > 0) await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
    this.waiters.delete(projection);
  }
}
