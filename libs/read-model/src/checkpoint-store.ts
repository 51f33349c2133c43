import type { Pool, PoolClient } from 'pg';
import { START, type Position } from '@beecastle/event-store';

export class CheckpointConflictError extends Error {
  constructor(readonly projection: string) {
    super(`Checkpoint of ${projection} moved under us: another instance is writing it`);
    this.name = 'CheckpointConflictError';
  }
}

interface CheckpointRow {
  position_commit: string;
  position_prepare: string;
}

/** Projection checkpoints in `projection_checkpoints`, moved only by compare-and-set. */
export class CheckpointStore {
  constructor(private readonly pool: Pool) {}

  async read(projection: string): Promise<Position> {
    const { rows } = await this.pool.query<CheckpointRow>(
      `SELECT position_commit, position_prepare FROM projection_checkpoints WHERE projection = $1`,
      [projection],
    );
    if (rows.length === 0) return START;
    return { commit: BigInt(rows[0].position_commit), prepare: BigInt(rows[0].position_prepare) };
  }

  /** Inside the batch's transaction: fails (and so rolls the batch back) if `from` is stale. */
  async advance(
    client: PoolClient,
    projection: string,
    from: Position,
    to: Position,
  ): Promise<void> {
    const result = await client.query(
      `INSERT INTO projection_checkpoints AS c (projection, position_commit, position_prepare, updated_at)
       VALUES ($1, $4, $5, now())
       ON CONFLICT (projection) DO UPDATE
          SET position_commit = EXCLUDED.position_commit,
              position_prepare = EXCLUDED.position_prepare,
              updated_at = now()
        WHERE c.position_commit = $2 AND c.position_prepare = $3`,
      [
        projection,
        from.commit.toString(),
        from.prepare.toString(),
        to.commit.toString(),
        to.prepare.toString(),
      ],
    );
    // A first write from START inserts; any later one updates only if nobody moved it meanwhile.
    if (result.rowCount !== 1) throw new CheckpointConflictError(projection);
  }
}
