/**
 * Key management, recorded like any other change: the envelope says who and when, the data what
 * was rotated. Never key material. An organisation's rotations are in its stream
 * `keys-<orgId>.<orgId>`; the master key's in the platform's `platform-<nil>.master-keys`.
 */
export const KEYS_STREAM_CATEGORY = 'keys';
export const MASTER_KEYS_STREAM_ID = 'master-keys';

export type KeyEvent =
  | {
      /** Every live data key of the organisation is now wrapped by `version` (the log is untouched). */
      readonly type: 'OrganisationKeyRotated';
      readonly schemaVersion: 1;
      readonly data: {
        readonly version: number;
        readonly previousVersion: number | null;
        readonly dataKeysRewrapped: number;
        /** It finished a rotation an earlier, interrupted run had begun. */
        readonly resumed: boolean;
      };
    }
  | {
      /** Every organisation key is now wrapped by `masterKeyId` only (public key ids, not keys). */
      readonly type: 'MasterKeyRotated';
      readonly schemaVersion: 1;
      readonly data: {
        readonly masterKeyId: string;
        readonly previousMasterKeyId: string;
        readonly organisationKeysWrapped: number;
      };
    };
