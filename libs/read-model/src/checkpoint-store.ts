import { escapeLiteral, type Pool, type PoolClient } from 'pg';
import { START, type Position } from '@beecastle/event-store';

// The SQLSTATE the compare-and-set raises when the checkpoint moved under us.
const CHECKPOINT_MOVED = 'BC409';

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
    await this.run(client, projection, compareAndSet(projection, from, to));
  }

  /**
   * `advance` and COMMIT in one round trip, after `prefix` (statements that open the transaction,
   * when nothing else has yet). On a conflict the COMMIT never runs: the caller rolls back.
   */
  async advanceAndCommit(
    client: PoolClient,
    projection: string,
    from: Position,
    to: Position,
    prefix = '',
  ): Promise<void> {
    await this.run(client, projection, `${prefix}${compareAndSet(projection, from, to)}; COMMIT`);
  }

  private async run(client: PoolClient, projection: string, sql: string): Promise<void> {
    try {
      await client.query(sql);
    } catch (error) {
      if ((error as { code?: unknown }).code === CHECKPOINT_MOVED) {
        throw new CheckpointConflictError(projection);
      }
      throw error;
    }
  }
}

/**
 * The compare-and-set as one statement that fails when it moves nothing, so that a COMMIT can
 * follow it in the same round trip. Values are inlined (a multi-statement query takes no
 * parameters): positions are integers and the name goes through escapeLiteral. A first write from
 * START inserts; any later one updates only if nobody moved the checkpoint meanwhile.
 */
function compareAndSet(projection: string, from: Position, to: Position): string {
  const name = escapeLiteral(projection);
  if (name.includes('$')) throw new RangeError(`Unexpected projection name ${projection}`);
  return `DO $cas$ BEGIN
    INSERT INTO projection_checkpoints AS c (projection, position_commit, position_prepare, updated_at)
    VALUES (${name}, ${to.commit}, ${to.prepare}, now())
    ON CONFLICT (projection) DO UPDATE
       SET position_commit = EXCLUDED.position_commit,
           position_prepare = EXCLUDED.position_prepare,
           updated_at = now()
     WHERE c.position_commit = ${from.commit} AND c.position_prepare = ${from.prepare};
    IF NOT FOUND THEN
      RAISE EXCEPTION 'checkpoint of % moved', ${name} USING ERRCODE = '${CHECKPOINT_MOVED}';
    END IF;
  END $cas$`;
}
