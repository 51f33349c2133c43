import { DatabaseError } from 'pg';
import { encodeMetadata, validateAppend, validateAppends } from '../append-validation';
import {
  AppendInWriteTransactionError,
  DataKeyTakenError,
  InvalidEventError,
  OrganisationMismatchError,
  WrongExpectedVersionError,
} from '../errors';
import type {
  AppendOptions,
  AppendResult,
  ExpectedRevision,
  NewDataKey,
  NewEvent,
  StreamAppend,
} from '../event-store.port';
import { byteaArray, int2Array, int4Array, int8Array, textArray, uuidArray } from './binary-arrays';
import type { Queryable } from './event-rows';

/** SQLSTATEs raised by the events migration's functions and triggers. */
export const WRONG_EXPECTED_VERSION = 'YB001';
const APPEND_IN_WRITE_TRANSACTION = 'YB002';
const ORGANISATION_MISMATCH = 'YB003';
const DATA_KEY_TAKEN = 'YB005';
const UNIQUE_VIOLATION = '23505';

const APPEND_SQL = `SELECT out_revision, out_tx_id::text, out_global_seq
                      FROM append_to_stream($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;
// One event, the usual case: scalar arguments, so data and metadata travel as binary bytea rather
// than as hex inside array literals, and the result is one bigint[] {revision, tx_id, global_seq}.
const APPEND_ONE_SQL = 'SELECT append_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)';
// One event and its subject's first data key, a create's (migration DataKeysWithAppends).
const APPEND_ONE_WITH_KEY_SQL =
  'SELECT append_event_with_key($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)';

/**
 * One round trip: `append_event` (one event) or `append_to_stream` (a batch) locks the stream,
 * checks the expected revision and idempotency, chains the hashes, inserts and notifies. `readHead`
 * answers, after a conflict that reached the unique index, what the stream's last revision now is.
 * With first data keys to store (`keys`), `append_event_with_key` for one event and one key, else
 * appendEventsToStreams.
 */
export async function appendEvents(
  db: Queryable,
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions,
  readHead: (stream: string) => Promise<bigint | 'no_stream'>,
  keys: readonly NewDataKey[] = [],
): Promise<AppendResult> {
  const organisationId = validateAppend(stream, events);
  const expected = options.expectedRevision;
  if (keys.length > 1 || (keys.length === 1 && events.length > 1)) {
    const append = { stream, events, expectedRevision: expected };
    const { results } = await appendEventsToStreams(db, [append], readHead, keys);
    return results[0];
  }
  validateDataKeys(keys, [organisationId]);
  const mode = typeof expected === 'bigint' ? 'exact' : expected;
  const revision = typeof expected === 'bigint' ? expected.toString() : null;
  try {
    if (events.length === 1) {
      const [e] = events;
      const [key] = keys;
      const { rows } = await db.query<unknown[]>({
        name: key ? 'bc_append_event_with_key' : 'bc_append_event',
        text: key ? APPEND_ONE_WITH_KEY_SQL : APPEND_ONE_SQL,
        values: [
          stream,
          organisationId,
          mode,
          revision,
          e.eventId,
          e.type,
          e.schemaVersion,
          e.data,
          encodeMetadata(e),
          e.metadata.actorId,
          e.metadata.requestId ?? null,
          ...(key ? [key.subjectId, key.organisationKeyVersion, key.wrappedKey] : []),
        ],
        rowMode: 'array',
      });
      const [next, commit, prepare] = rows[0][0] as string[];
      return {
        nextExpectedRevision: BigInt(next),
        position: { commit: BigInt(commit), prepare: BigInt(prepare) },
      };
    }
    const { rows } = await db.query<unknown[]>({
      name: 'bc_append_to_stream',
      text: APPEND_SQL,
      values: [stream, organisationId, mode, revision, ...eventColumns(events)],
      rowMode: 'array',
    });
    const [next, commit, prepare] = rows[0] as [string, string, string];
    return {
      nextExpectedRevision: BigInt(next),
      position: { commit: BigInt(commit), prepare: BigInt(prepare) },
    };
  } catch (error: unknown) {
    throw await translateAppendError(error, stream, organisationId, expected, readHead);
  }
}

const APPEND_STREAMS_SQL = `SELECT append_to_streams($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`;
// With first data keys (migration DataKeysWithAppends): the same twelve, and four for the keys.
const APPEND_STREAMS_WITH_KEYS_SQL = `SELECT append_to_streams_with_keys($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`;

/** The per-event array arguments of `append_to_stream` and `append_to_streams`, in binary. */
function eventColumns(events: readonly NewEvent[]): Buffer[] {
  return [
    uuidArray(events.map((e) => e.eventId)),
    textArray(events.map((e) => e.type)),
    int2Array(events.map((e) => e.schemaVersion)),
    byteaArray(events.map((e) => e.data)),
    byteaArray(events.map((e) => encodeMetadata(e))),
    textArray(events.map((e) => e.metadata.actorId)),
    textArray(events.map((e) => e.metadata.requestId ?? null)),
  ];
}

/**
 * The arguments of `append_to_streams` for validated appends (binary-arrays.ts says why), and of
 * `append_to_streams_with_keys` when there are keys.
 */
export function appendToStreamsValues(
  appends: readonly StreamAppend[],
  organisationIds: readonly string[],
  keys: readonly NewDataKey[] = [],
): Buffer[] {
  // Inserted in one order everywhere (organisation, subject), so that no two appends storing
  // keys for the same subjects can wait for each other's rows.
  keys = [...keys].sort(
    (a, b) => compare(a.organisationId, b.organisationId) || compare(a.subjectId, b.subjectId),
  );
  const keyColumns =
    keys.length === 0
      ? []
      : [
          uuidArray(keys.map((k) => k.organisationId)),
          textArray(keys.map((k) => k.subjectId)),
          int4Array(keys.map((k) => k.organisationKeyVersion)),
          byteaArray(keys.map((k) => k.wrappedKey)),
        ];
  return [
    textArray(appends.map((a) => a.stream)),
    uuidArray(organisationIds),
    textArray(
      appends.map((a) => (typeof a.expectedRevision === 'bigint' ? 'exact' : a.expectedRevision)),
    ),
    int8Array(
      appends.map((a) => (typeof a.expectedRevision === 'bigint' ? a.expectedRevision : null)),
    ),
    int4Array(appends.map((a) => a.events.length)),
    ...eventColumns(appends.flatMap((a) => a.events)),
    ...keyColumns,
  ];
}

/**
 * Several streams in one round trip: `append_to_streams` (MultiStreamAppend migration) locks them
 * all, checks each as `append_to_stream` would, chains, inserts and advances the heads; with
 * `keys`, `append_to_streams_with_keys` stores them in the same transaction (DataKeyTakenError if
 * one meets another). Returns each stream's organisation too, for the wake-ups after commit.
 */
export async function appendEventsToStreams(
  db: Queryable,
  appends: readonly StreamAppend[],
  readHead: (stream: string) => Promise<bigint | 'no_stream'>,
  keys: readonly NewDataKey[] = [],
): Promise<{ results: AppendResult[]; organisationIds: string[] }> {
  const organisationIds = validateAppends(appends);
  validateDataKeys(keys, organisationIds);
  try {
    const { rows } = await db.query<unknown[]>({
      name: keys.length === 0 ? 'bc_append_to_streams' : 'bc_append_to_streams_with_keys',
      text: keys.length === 0 ? APPEND_STREAMS_SQL : APPEND_STREAMS_WITH_KEYS_SQL,
      values: appendToStreamsValues(appends, organisationIds, keys),
      rowMode: 'array',
    });
    const flat = rows[0][0] as string[];
    const results = appends.map((_, i): AppendResult => ({
      nextExpectedRevision: BigInt(flat[3 * i]),
      position: { commit: BigInt(flat[3 * i + 1]), prepare: BigInt(flat[3 * i + 2]) },
    }));
    return { results, organisationIds };
  } catch (error: unknown) {
    throw await translateAppendsError(error, appends, organisationIds, readHead);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Keys an append may carry: each for an organisation of one of its streams, a subject once. The
 * function checks the organisations too; this names the mistake before a round trip.
 */
export function validateDataKeys(
  keys: readonly NewDataKey[],
  organisationIds: readonly string[],
): void {
  const subjects = new Set<string>();
  for (const key of keys) {
    if (!organisationIds.includes(key.organisationId)) {
      throw new InvalidEventError(
        `A data key for organisation ${key.organisationId}, which none of the streams belongs to`,
      );
    }
    const id = `${key.organisationId}/${key.subjectId}`;
    if (subjects.has(id)) throw new InvalidEventError(`Two data keys for subject ${key.subjectId}`);
    subjects.add(id);
  }
}

/**
 * The JSON object a refusal of ours carries in DETAIL (YB001 names the stream and its head, YB005
 * the subject), if `error` is that refusal; undefined for anything else.
 */
export function refusalDetail(
  error: unknown,
  code: string,
): Partial<Record<string, unknown>> | undefined {
  if (!(error instanceof DatabaseError) || error.code !== code) return undefined;
  try {
    const detail: unknown = JSON.parse(error.detail ?? '');
    return typeof detail === 'object' && detail !== null ? detail : undefined;
  } catch {
    return undefined;
  }
}

/** The DataKeyTakenError a YB005 stands for; undefined for any other error. */
export function dataKeyTaken(error: unknown): DataKeyTakenError | undefined {
  const detail = refusalDetail(error, DATA_KEY_TAKEN);
  if (!detail) return undefined;
  const { organisationId, subjectId } = detail;
  if (typeof organisationId !== 'string' || typeof subjectId !== 'string') return undefined;
  return new DataKeyTakenError(organisationId, subjectId);
}

/** `translateAppendError` for a multi-stream append: the database says which stream failed. */
async function translateAppendsError(
  error: unknown,
  appends: readonly StreamAppend[],
  organisationIds: readonly string[],
  readHead: (stream: string) => Promise<bigint | 'no_stream'>,
): Promise<unknown> {
  if (!(error instanceof DatabaseError)) return error;
  const taken = dataKeyTaken(error);
  if (taken) return taken;
  const index = Math.max(
    0,
    appends.findIndex((a) => failedStream(error) === a.stream),
  );
  const { stream, expectedRevision } = appends[index];
  const refused = refusalDetail(error, WRONG_EXPECTED_VERSION);
  if (refused) {
    const { actual } = refused;
    return new WrongExpectedVersionError(
      stream,
      expectedRevision,
      typeof actual !== 'string' || actual === 'no_stream' ? 'no_stream' : BigInt(actual),
    );
  }
  return translateAppendError(error, stream, organisationIds[index], expectedRevision, readHead);
}

// YB001 names the stream in DETAIL; a unique violation names it in its key.
function failedStream(error: DatabaseError): string | undefined {
  if (error.code === WRONG_EXPECTED_VERSION) {
    const { stream } = refusalDetail(error, WRONG_EXPECTED_VERSION) ?? {};
    return typeof stream === 'string' ? stream : undefined;
  }
  return /^Key \(stream_id, revision\)=\(([^,]+), /.exec(error.detail ?? '')?.[1];
}

async function translateAppendError(
  error: unknown,
  stream: string,
  organisationId: string,
  expected: ExpectedRevision,
  readHead: (stream: string) => Promise<bigint | 'no_stream'>,
): Promise<unknown> {
  if (!(error instanceof DatabaseError)) return error;
  switch (error.code) {
    case DATA_KEY_TAKEN:
      return dataKeyTaken(error) ?? error;
    case WRONG_EXPECTED_VERSION: {
      const detail = error.detail ?? 'no_stream';
      return new WrongExpectedVersionError(
        stream,
        expected,
        detail === 'no_stream' ? 'no_stream' : BigInt(detail),
      );
    }
    case APPEND_IN_WRITE_TRANSACTION:
      return new AppendInWriteTransactionError();
    case ORGANISATION_MISMATCH:
      return new OrganisationMismatchError(stream, organisationId);
    case UNIQUE_VIOLATION:
      // Only reachable when the head was read from a stale snapshot (a REPEATABLE READ caller)
      // or rows were inserted around the function: still a concurrency conflict, not a crash.
      if (error.constraint === 'events_stream_revision_key') {
        return new WrongExpectedVersionError(stream, expected, await readHead(stream));
      }
      return error;
    default:
      return error;
  }
}

export async function readStreamHead(db: Queryable, stream: string): Promise<bigint | 'no_stream'> {
  const { rows } = await db.query<unknown[]>({
    name: 'bc_stream_head',
    text: 'SELECT max(revision)::text FROM events WHERE stream_id = $1',
    values: [stream],
    rowMode: 'array',
  });
  const head = rows[0][0] as string | null;
  return head === null ? 'no_stream' : BigInt(head);
}
