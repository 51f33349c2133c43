import type { ClientBase, Pool } from 'pg';
import {
  StreamChainVerifier,
  type BrokenEvent,
  type StoredChainLink,
  type VerifyResult,
} from '../hash-chain';

export interface VerifyEventLogOptions {
  /** Only this organisation's streams. */
  readonly organisationId?: string;
  /** Rows per fetch; memory stays bounded by it whatever the log's size. */
  readonly batchSize?: number;
}

interface StreamHead {
  readonly streamId: string;
  readonly lastRevision: bigint;
  readonly lastHash: Buffer;
}

/**
 * Recomputes every stream's hash chain from the stored bytes, in stream then revision order, and
 * names the first event that does not follow (or the first stream whose recorded head disagrees
 * with its events: a truncated tail). Runs in one REPEATABLE READ snapshot, so concurrent appends
 * cannot make events and heads disagree, and keyset-pages both so memory stays flat.
 */
export async function verifyEventLog(
  pool: Pool,
  options: VerifyEventLogOptions = {},
): Promise<VerifyResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await verifyInSnapshot(client, options);
    } finally {
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
}

async function verifyInSnapshot(
  client: ClientBase,
  options: VerifyEventLogOptions,
): Promise<VerifyResult> {
  const batchSize = options.batchSize ?? 2_000;
  const organisationId = options.organisationId;
  const heads = readHeads(client, organisationId, batchSize)[Symbol.asyncIterator]();
  let head = await heads.next();
  let eventsChecked = 0;
  let streamsChecked = 0;
  let verifier: StreamChainVerifier | undefined;
  const result = (firstBrokenEvent?: BrokenEvent): VerifyResult =>
    firstBrokenEvent
      ? { ok: false, eventsChecked, streamsChecked, firstBrokenEvent }
      : { ok: true, eventsChecked, streamsChecked };

  // Heads and event streams are walked side by side, both in byte order of stream_id.
  const finishStream = async (done: StreamChainVerifier): Promise<BrokenEvent | undefined> => {
    const orphan = headWithoutEvents(done.streamId);
    if (orphan) return orphan;
    if (!head.done && head.value.streamId === done.streamId) {
      const recorded = head.value;
      head = await heads.next();
      return done.finish(recorded);
    }
    return done.finish({ lastRevision: -1n, lastHash: Buffer.alloc(0) });
  };
  // A recorded head that sorts before the stream being walked (or after the last one) has no
  // events left at all.
  const headWithoutEvents = (streamId: string | undefined): BrokenEvent | undefined => {
    if (!head.done && (streamId === undefined || head.value.streamId < streamId)) {
      return {
        streamId: head.value.streamId,
        revision: 0n,
        eventId: null,
        reason: 'head_mismatch',
      };
    }
    return undefined;
  };

  for await (const link of readLinks(client, organisationId, batchSize)) {
    if (verifier?.streamId !== link.streamId) {
      if (verifier) {
        const broken = await finishStream(verifier);
        if (broken) return result(broken);
      }
      verifier = new StreamChainVerifier(link.streamId);
      streamsChecked += 1;
    }
    eventsChecked += 1;
    const broken = verifier.next(link);
    if (broken) return result(broken);
  }
  if (verifier) {
    const broken = await finishStream(verifier);
    if (broken) return result(broken);
  }
  return result(headWithoutEvents(undefined));
}

/** Streams a cursor's rows in batches: the server keeps the position, we hold one batch at most. */
async function* fetchAll(
  client: ClientBase,
  cursor: string,
  query: string,
  values: unknown[],
  batchSize: number,
): AsyncGenerator<unknown[]> {
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${query}`, values);
  for (;;) {
    const { rows } = await client.query<unknown[]>({
      text: `FETCH FORWARD ${batchSize} FROM ${cursor}`,
      rowMode: 'array',
    });
    yield* rows;
    if (rows.length < batchSize) break;
  }
  await client.query(`CLOSE ${cursor}`);
}

async function* readLinks(
  client: ClientBase,
  organisationId: string | undefined,
  batchSize: number,
): AsyncGenerator<StoredChainLink> {
  const query = `
    SELECT stream_id, revision, event_id, type, schema_version, org_id,
           floor(extract(epoch FROM recorded_at) * 1000000)::int8, metadata, data, prev_hash, hash
      FROM events
     ${organisationId !== undefined ? 'WHERE org_id = $1::uuid' : ''}
     ORDER BY stream_id, revision`;
  const values = organisationId !== undefined ? [organisationId] : [];
  for await (const row of fetchAll(client, 'verify_links', query, values, batchSize)) {
    yield {
      streamId: row[0] as string,
      revision: BigInt(row[1] as string),
      eventId: row[2] as string,
      type: row[3] as string,
      schemaVersion: row[4] as number,
      organisationId: row[5] as string,
      recordedAtMicros: BigInt(row[6] as string),
      metadata: row[7] as Buffer,
      data: row[8] as Buffer,
      prevHash: row[9] as Buffer,
      hash: row[10] as Buffer,
    };
  }
}

async function* readHeads(
  client: ClientBase,
  organisationId: string | undefined,
  batchSize: number,
): AsyncGenerator<StreamHead> {
  const query = `
    SELECT stream_id, last_revision, last_hash
      FROM streams
     ${organisationId !== undefined ? 'WHERE org_id = $1::uuid' : ''}
     ORDER BY stream_id`;
  const values = organisationId !== undefined ? [organisationId] : [];
  for await (const row of fetchAll(client, 'verify_heads', query, values, batchSize)) {
    yield {
      streamId: row[0] as string,
      lastRevision: BigInt(row[1] as string),
      lastHash: row[2] as Buffer,
    };
  }
}
