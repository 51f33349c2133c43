import { associatedData, open, seal, type Keyring } from '@beecastle/crypto';
import { PLATFORM_ORGANISATION_ID } from '@beecastle/domain';

/**
 * A token signing key's private half is stored sealed (AES-256-GCM) under a data key of its own
 * in the platform organisation, like any subject's data: that key is wrapped by the platform's
 * organisation key, itself wrapped by the master key, so `keys:rotate` and `keys:rotate-master`
 * carry it along, and a database or backup read without the master key yields no signing key.
 * When the key is retired its private half is dropped and its data key destroyed.
 */
export function signingKeySubject(keyId: string): string {
  return `signing-key-${keyId}`;
}

/** The private half as stored: sealed, and the id of the data key that seals it. */
export interface SealedPrivateKey {
  readonly sealed: Buffer;
  readonly dataKeyId: string;
}

// Bound to the signing key and the data key: a sealed half moved to another row does not open.
const context = (keyId: string, dataKeyId: string) =>
  associatedData('beecastle/signing-key/v1', keyId, dataKeyId);

export async function sealPrivateKey(
  keyring: Keyring,
  keyId: string,
  privateKeyPem: string,
): Promise<SealedPrivateKey> {
  const subject = signingKeySubject(keyId);
  const keys = await keyring.keysForWriting(PLATFORM_ORGANISATION_ID, [subject]);
  const { keyId: dataKeyId, key } = keys.get(subject)!;
  return {
    sealed: seal(key, Buffer.from(privateKeyPem, 'utf8'), context(keyId, dataKeyId)),
    dataKeyId,
  };
}

/** The PEM; throws if the data key was destroyed or the bytes do not open. */
export async function openPrivateKey(
  keyring: Keyring,
  keyId: string,
  { sealed, dataKeyId }: SealedPrivateKey,
): Promise<string> {
  const key = (await keyring.keysForReading(PLATFORM_ORGANISATION_ID, [dataKeyId])).get(dataKeyId);
  if (key === undefined || key === 'destroyed') {
    throw new Error(`The private half of signing key ${keyId} cannot be opened: its key is gone`);
  }
  return open(key, sealed, context(keyId, dataKeyId)).toString('utf8');
}

/** The retired key's private half can never be opened again, from any copy of the database. */
export function destroyPrivateKey(keyring: Keyring, keyId: string): Promise<void> {
  return keyring.destroy(PLATFORM_ORGANISATION_ID, signingKeySubject(keyId));
}
