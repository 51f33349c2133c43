import type { ExpectedRevision } from './event-store.port';

/** Stable codes, mapped to HTTP answers in one place by the API's exception filter. */
export type EventStoreErrorCode =
  | 'WRONG_EXPECTED_VERSION'
  | 'STREAM_NOT_FOUND'
  | 'INVALID_STREAM_NAME'
  | 'ORGANISATION_MISMATCH'
  | 'APPEND_IN_WRITE_TRANSACTION'
  | 'INVALID_EVENT'
  | 'DATA_KEY_TAKEN';

export abstract class EventStoreError extends Error {
  abstract readonly code: EventStoreErrorCode;
}

export class WrongExpectedVersionError extends EventStoreError {
  readonly code = 'WRONG_EXPECTED_VERSION';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** The stream's current last revision, or `'no_stream'` when it does not exist. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(
      `Wrong expected version on ${stream}: expected ${String(expected)}, actual ${String(actual)}`,
    );
    this.name = 'WrongExpectedVersionError';
  }
}

export class StreamNotFoundError extends EventStoreError {
  readonly code = 'STREAM_NOT_FOUND';
  constructor(readonly stream: string) {
    super(`Stream not found: ${stream}`);
    this.name = 'StreamNotFoundError';
  }
}

export class InvalidStreamNameError extends EventStoreError {
  readonly code = 'INVALID_STREAM_NAME';
  constructor(readonly stream: string) {
    super(`Stream name does not carry an organisation: ${JSON.stringify(stream)}`);
    this.name = 'InvalidStreamNameError';
  }
}

export class OrganisationMismatchError extends EventStoreError {
  readonly code = 'ORGANISATION_MISMATCH';
  constructor(
    readonly stream: string,
    readonly organisationId: string,
  ) {
    super(`Event metadata names organisation ${organisationId}, stream ${stream} another`);
    this.name = 'OrganisationMismatchError';
  }
}

/**
 * Appending after another write in the same transaction would give the append an xid taken before
 * the stream lock, so revision order could differ from global order. The adapter refuses it.
 */
export class AppendInWriteTransactionError extends EventStoreError {
  readonly code = 'APPEND_IN_WRITE_TRANSACTION';
  constructor() {
    super('appendToStream must be the first write of its transaction');
    this.name = 'AppendInWriteTransactionError';
  }
}

export class InvalidEventError extends EventStoreError {
  readonly code = 'INVALID_EVENT';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

/**
 * A first data key sent with an append (appendToStreamsWithDataKeys) was not stored, so nothing
 * was: its subject already has a key, or an erasure's tombstone. The encryption layer then asks
 * its keyring for the stored key and appends again; it never reaches a caller of the port.
 */
export class DataKeyTakenError extends EventStoreError {
  readonly code = 'DATA_KEY_TAKEN';
  constructor(
    readonly organisationId: string,
    readonly subjectId: string,
  ) {
    super(`Subject ${subjectId} of organisation ${organisationId} already has a data key`);
    this.name = 'DataKeyTakenError';
  }
}
