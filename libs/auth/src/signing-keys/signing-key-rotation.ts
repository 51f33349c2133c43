import { randomUUID } from 'node:crypto';
import { PLATFORM_ORGANISATION_ID, type PlatformEvent } from '@beecastle/domain';
import { streamName, type EventStore, type NewEvent } from '@beecastle/event-store';
import type { Keyring } from '@beecastle/crypto';
import type { Pool } from 'pg';
import { inTransaction } from '@beecastle/database';
import { generateSigningKey, SIGNING_ALGORITHM } from './signing-key';
import { destroyPrivateKey, sealPrivateKey } from './signing-key-seal';

/** Where signing-key changes are recorded: the platform's stream, not any organisation's. */
export const SIGNING_KEYS_STREAM = streamName('platform', PLATFORM_ORGANISATION_ID, 'signing-keys');

/** Who made the change, for the event's metadata: always the system (an operator or the API). */
export interface SystemActor {
  readonly id: string;
  readonly requestId?: string;
}

export interface SigningKeyChange {
  readonly keyId: string;
  readonly previousKeyId: string | null;
}

/**
 * Creates the first signing key when there is none, as every API instance does at start. Safe when
 * several instances start at once: the unique index on the active key lets exactly one insert
 * win; the others wait for it and find its key. Then seals any private half still stored in the
 * clear (written before migration SealedSigningKeys).
 */
export async function ensureSigningKey(
  pool: Pool,
  events: EventStore,
  keyring: Keyring,
  actor: SystemActor,
): Promise<SigningKeyChange | undefined> {
  // Most starts find the key there: they make no key pair and no sealing key.
  const change = (await activeKeyExists(pool))
    ? undefined
    : await createFirstKey(pool, events, keyring, actor);
  await sealKeysInTheClear(pool, keyring);
  return change;
}

async function activeKeyExists(pool: Pool): Promise<boolean> {
  const { rowCount } = await pool.query('SELECT 1 FROM signing_keys WHERE retired_at IS NULL');
  return (rowCount ?? 0) > 0;
}

/** The first key, unless another instance's insert wins: then undefined, and nothing of this one is kept. */
async function createFirstKey(
  pool: Pool,
  events: EventStore,
  keyring: Keyring,
  actor: SystemActor,
): Promise<SigningKeyChange | undefined> {
  const key = generateSigningKey();
  const sealed = await sealPrivateKey(keyring, key.keyId, key.privateKeyPem);
  const change = await inTransaction(pool, async (client) => {
    const inserted = await client.query(
      `INSERT INTO signing_keys (key_id, algorithm, sealed_private_key, private_key_data_key, public_jwk)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [
        key.keyId,
        SIGNING_ALGORITHM,
        sealed.sealed,
        sealed.dataKeyId,
        JSON.stringify(key.publicJwk),
      ],
    );
    if (inserted.rowCount !== 1) return undefined;
    const made = { keyId: key.keyId, previousKeyId: null };
    await recordRotation(events, made, actor);
    return made;
  });
  // Another instance's key won: this one's sealing key seals nothing.
  if (!change) await destroyPrivateKey(keyring, key.keyId);
  return change;
}

/**
 * Seals the active key's private half if it is still in the clear, and drops a retired key's
 * (it only verifies). Each row is changed only if it is still in the clear, so instances starting
 * together do it once.
 */
async function sealKeysInTheClear(pool: Pool, keyring: Keyring): Promise<void> {
  const { rows } = await pool.query<{ key_id: string; private_key: string; retired: boolean }>(
    `SELECT key_id, private_key, retired_at IS NOT NULL AS retired FROM signing_keys
      WHERE private_key IS NOT NULL`,
  );
  for (const row of rows) {
    const sealed = row.retired
      ? undefined
      : await sealPrivateKey(keyring, row.key_id, row.private_key);
    await pool.query(
      `UPDATE signing_keys
          SET private_key = NULL, sealed_private_key = $2, private_key_data_key = $3
        WHERE key_id = $1 AND private_key IS NOT NULL`,
      [row.key_id, sealed?.sealed ?? null, sealed?.dataKeyId ?? null],
    );
  }
}

/**
 * Activates a new key and retires the active one. The retired key still verifies (and stays in the
 * JWKS) until every token it signed has expired, so nobody is signed out. Concurrent rotations
 * queue on the active key's row lock, each retiring the key the one before activated.
 */
export async function rotateSigningKey(
  pool: Pool,
  events: EventStore,
  keyring: Keyring,
  actor: SystemActor,
): Promise<SigningKeyChange> {
  const key = generateSigningKey();
  const sealed = await sealPrivateKey(keyring, key.keyId, key.privateKeyPem);
  const change = await inTransaction(pool, async (client) => {
    // The retired key only verifies from now on: its private half goes.
    const retired = await client.query<{ key_id: string }>(
      `UPDATE signing_keys
          SET retired_at = now(), private_key = NULL, sealed_private_key = NULL,
              private_key_data_key = NULL
        WHERE retired_at IS NULL RETURNING key_id`,
    );
    await client.query(
      `INSERT INTO signing_keys (key_id, algorithm, sealed_private_key, private_key_data_key, public_jwk)
       VALUES ($1, $2, $3, $4, $5)`,
      [
        key.keyId,
        SIGNING_ALGORITHM,
        sealed.sealed,
        sealed.dataKeyId,
        JSON.stringify(key.publicJwk),
      ],
    );
    const made = { keyId: key.keyId, previousKeyId: retired.rows[0]?.key_id ?? null };
    await recordRotation(events, made, actor);
    return made;
  }).catch(async (error: unknown) => {
    await destroyPrivateKey(keyring, key.keyId).catch(() => undefined);
    throw error;
  });
  // After the commit (before it, a rollback would leave the active key unopenable). The row
  // holds no sealed half any more; destroying its key also makes the sealed half in older
  // backups unopenable. A failure here does not fail the rotation, which is done.
  if (change.previousKeyId !== null) {
    await destroyPrivateKey(keyring, change.previousKeyId).catch(() => undefined);
  }
  return change;
}

/**
 * Appended while the key's transaction is still open: if the append fails the key is rolled back,
 * so no key is ever active without its event. (The reverse, an event whose key failed to commit,
 * needs COMMIT itself to fail after a successful append; the event then names a key that never
 * signed anything.)
 */
async function recordRotation(
  events: EventStore,
  change: SigningKeyChange,
  actor: SystemActor,
): Promise<void> {
  const event: PlatformEvent = {
    type: 'SigningKeyRotated',
    schemaVersion: 1,
    data: {
      keyId: change.keyId,
      previousKeyId: change.previousKeyId,
      algorithm: SIGNING_ALGORITHM,
    },
  };
  const recorded: NewEvent = {
    eventId: randomUUID(),
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: Buffer.from(JSON.stringify(event.data), 'utf8'),
    metadata: {
      organisationId: PLATFORM_ORGANISATION_ID,
      actorId: actor.id,
      actorType: 'system',
      ...(actor.requestId ? { requestId: actor.requestId } : {}),
    },
  };
  await events.appendToStream(SIGNING_KEYS_STREAM, [recorded], { expectedRevision: 'any' });
}
