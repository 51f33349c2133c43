import { createHash } from 'node:crypto';
import { Client, type Pool, type PoolClient } from 'pg';
import {
  comparePositions,
  type EventStore,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '@beecastle/event-store';
import { CheckpointStore } from './checkpoint-store';
import type { Projection, ProjectionTransaction } from './projection';

export interface ProjectionRunnerOptions {
  readonly pool: Pool;
  readonly store: EventStore;
  /** A connection string for the session that holds the leadership lock. */
  readonly lockConnectionString: string;
  readonly maxBatch?: number;
  /** How often a standby instance tries to take over. */
  readonly standbyRetryMs?: number;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly state: 'starting' | 'standby' | 'catching_up' | 'live' | 'stopped' | 'failed';
  readonly checkpoint: Position | null;
  readonly lastError?: string;
}

function lockKey(name: string): bigint {
  return createHash('sha256').update(`projection:${name}`).digest().readBigInt64BE(0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one projection: only while it holds the projection's advisory lock (so a second instance
 * waits as a standby), from its checkpoint, writing each batch and the checkpoint in one
 * transaction with compare-and-set. A crash loses nothing: the batch and its checkpoint commit
 * together or not at all, and delivery resumes strictly after the last committed checkpoint.
 */
export class ProjectionRunner {
  private readonly checkpoints: CheckpointStore;
  private readonly maxBatch: number;
  private stopping = false;
  private subscription?: Subscription;
  private lockClient?: Client;
  private wake?: () => void;
  private loop?: Promise<void>;
  private status: ProjectionStatus;

  constructor(
    private readonly projection: Projection,
    private readonly options: ProjectionRunnerOptions,
  ) {
    this.checkpoints = new CheckpointStore(options.pool);
    this.maxBatch = options.maxBatch ?? 500;
    this.status = { name: projection.name, state: 'starting', checkpoint: null };
  }

  get current(): ProjectionStatus {
    return this.status;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.subscription?.close();
    await this.loop;
    this.status = { ...this.status, state: 'stopped' };
  }

  private log(message: string, fields: Record<string, unknown> = {}): void {
    this.options.log?.(message, { projection: this.projection.name, ...fields });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        if (await this.lead()) await this.follow();
        else await this.pause(this.options.standbyRetryMs ?? 2000);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.status = { ...this.status, state: 'failed', lastError: message };
        this.log('projection failed; retrying', { error: message });
        await this.pause(1000);
      } finally {
        await this.releaseLead();
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    await Promise.race([sleep(ms), new Promise<void>((resolve) => (this.wake = resolve))]);
  }

  private async lead(): Promise<boolean> {
    const client = new Client({
      connectionString: this.options.lockConnectionString,
      application_name: `beecastle-projector-${this.projection.name}`,
    });
    client.on('error', () => undefined); // a lost session ends leadership; the CAS keeps us honest
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      lockKey(this.projection.name).toString(),
    ]);
    if (!rows[0].ok) {
      await client.end();
      if (this.status.state !== 'standby') this.log('another instance leads; standing by');
      this.status = { ...this.status, state: 'standby' };
      return false;
    }
    this.lockClient = client;
    return true;
  }

  private async releaseLead(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    // Closing the session releases its advisory lock.
    if (client) await client.end().catch(() => undefined);
  }

  private async follow(): Promise<void> {
    let checkpoint = await this.checkpoints.read(this.projection.name);
    this.status = { name: this.projection.name, state: 'catching_up', checkpoint };
    this.log('leading; resuming', { from: `${checkpoint.commit}/${checkpoint.prepare}` });
    const subscription = this.options.store.subscribeToAll({
      fromPosition: checkpoint,
      filter: this.projection.eventTypes ? { eventTypes: this.projection.eventTypes } : undefined,
    });
    this.subscription = subscription;
    let batch: RecordedEvent[] = [];
    try {
      for await (const message of subscription) {
        if (this.stopping) break;
        if (message.kind === 'event') {
          batch.push(message.event);
          if (batch.length < this.maxBatch) continue;
          checkpoint = await this.commit(batch, checkpoint, message.event.position);
        } else {
          // caughtUp and checkpoint messages mean "nothing more for now up to here": flush.
          const to =
            batch.length > 0
              ? maxPosition(batch[batch.length - 1].position, message.position)
              : message.position;
          if (comparePositions(to, checkpoint) > 0)
            checkpoint = await this.commit(batch, checkpoint, to);
          if (message.kind === 'caughtUp') this.status = { ...this.status, state: 'live' };
        }
        batch = [];
      }
    } finally {
      this.subscription = undefined;
      await subscription.close();
    }
  }

  private async commit(
    batch: readonly RecordedEvent[],
    from: Position,
    to: Position,
  ): Promise<Position> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      if (batch.length > 0) await this.projection.apply(batch, transaction(client));
      await this.checkpoints.advance(client, this.projection.name, from, to);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    this.status = { ...this.status, checkpoint: to };
    return to;
  }
}

function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

function transaction(client: PoolClient): ProjectionTransaction {
  return {
    client,
    forOrganisation: async (organisationId) => {
      await client.query(`SELECT set_config('app.org_id', $1, true)`, [organisationId]);
    },
  };
}
