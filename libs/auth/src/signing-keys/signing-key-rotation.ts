import { randomUUID } from 'node:crypto';
import { PLATFORM_ORGANISATION_ID, type PlatformEvent } from '@beecastle/domain';
import { streamName, type EventStore, type NewEvent } from '@beecastle/event-store';
import type { Pool } from 'pg';
import { inTransaction } from '@beecastle/database';
import { generateSigningKey, SIGNING_ALGORITHM } from './signing-key';

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
 * win; the others wait for it and find its key.
 */
export async function ensureSigningKey(
  pool: Pool,
  events: EventStore,
  actor: SystemActor,
): Promise<SigningKeyChange | undefined> {
  return inTransaction(pool, async (client) => {
    const key = generateSigningKey();
    const inserted = await client.query(
      `INSERT INTO signing_keys (key_id, algorithm, private_key, public_jwk)
       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [key.keyId, SIGNING_ALGORITHM, key.privateKeyPem, JSON.stringify(key.publicJwk)],
    );
    if (inserted.rowCount !== 1) return undefined;
    const change = { keyId: key.keyId, previousKeyId: null };
    await recordRotation(events, change, actor);
    return change;
  });
}

/**
 * Activates a new key and retires the active one. The retired key still verifies (and stays in the
 * JWKS) until every token it signed has expired, so nobody is signed out. Concurrent rotations
 * queue on the active key's row lock, each retiring the key the one before activated.
 */
export async function rotateSigningKey(
  pool: Pool,
  events: EventStore,
  actor: SystemActor,
): Promise<SigningKeyChange> {
  return inTransaction(pool, async (client) => {
    const retired = await client.query<{ key_id: string }>(
      `UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL RETURNING key_id`,
    );
    const key = generateSigningKey();
    await client.query(
      `INSERT INTO signing_keys (key_id, algorithm, private_key, public_jwk) VALUES ($1, $2, $3, $4)`,
      [key.keyId, SIGNING_ALGORITHM, key.privateKeyPem, JSON.stringify(key.publicJwk)],
    );
    const change = { keyId: key.keyId, previousKeyId: retired.rows[0]?.key_id ?? null };
    await recordRotation(events, change, actor);
    return change;
  });
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
