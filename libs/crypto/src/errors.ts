/**
 * Key failures. Each says what is wrong and what to do, and never carries key material. The
 * master key ones stop a process at start: it fails closed rather than run unable to read.
 */

/** The configured master key is not the one this database's keys are sealed with. */
export class MasterKeyMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterKeyMismatchError';
  }
}

/** An organisation key was to be made under a master key a rotation has retired. */
export class MasterKeyRetiredError extends MasterKeyMismatchError {
  constructor(readonly masterKeyId: string) {
    super(
      `The master key ${masterKeyId} has been retired by keys:rotate-master (or was never registered): restart with the current MASTER_KEY`,
    );
    this.name = 'MasterKeyRetiredError';
  }
}

/**
 * A key that should exist does not, or does not open: the key store and the log disagree, which
 * only corruption or tampering explains. Never a reason to return unreadable data as if it were.
 */
export class KeyUnavailableError extends Error {
  constructor(
    readonly organisationId: string,
    readonly keyId: string,
    reason: string,
  ) {
    super(`Key ${keyId} of organisation ${organisationId} is unavailable: ${reason}`);
    this.name = 'KeyUnavailableError';
  }
}

/** A subject's data key was destroyed (erasure): nothing more may be written under it. */
export class SubjectErasedError extends Error {
  constructor(
    readonly organisationId: string,
    readonly subjectId: string,
  ) {
    super(`The data of ${subjectId} in organisation ${organisationId} was erased`);
    this.name = 'SubjectErasedError';
  }
}
