import type { OrganisationEvent } from '@beecastle/domain';
import { parseStreamName, type RecordedEvent } from '@beecastle/event-store';
import type { PoolClient } from 'pg';
import type { Projection, ProjectionTransaction } from '../projection';
import { decodeOrganisationEvent, ORGANISATION_EVENT_TYPES } from './organisation-event-codec';

export const ACCESS_PROJECTION = 'access';

/**
 * Who belongs to which organisation, with what role, and which API keys exist: the tables
 * `organisations`, `memberships` and `api_keys`, which authentication reads on every request.
 *
 * Idempotent by stream revision: the organisation's row keeps the last revision of its stream that
 * was applied, and an event at or below it changes nothing (the runner redelivers a batch whose
 * commit failed). Every other row also records the revision that last touched it.
 */
export class AccessProjection implements Projection {
  readonly name = ACCESS_PROJECTION;
  readonly eventTypes = ORGANISATION_EVENT_TYPES;

  async apply(events: readonly RecordedEvent[], tx: ProjectionTransaction): Promise<void> {
    let scoped: string | undefined;
    for (const recorded of events) {
      const { category, organisationId } = parseStreamName(recorded.streamId);
      if (category !== 'organisation') continue;
      if (scoped !== organisationId) {
        await tx.forOrganisation(organisationId);
        scoped = organisationId;
      }
      const row: Applied = {
        organisationId,
        revision: recorded.revision.toString(),
        at: recorded.recordedAt,
      };
      const event = decodeOrganisationEvent(recorded);
      if (await claimRevision(tx.client, row, event)) await applyEvent(tx.client, row, event);
    }
  }
}

interface Applied {
  readonly organisationId: string;
  readonly revision: string;
  readonly at: Date;
}

/**
 * Moves the organisation's revision to this event's, or reports that the event was applied
 * already. A stream's events arrive in revision order, so this one guard covers them all.
 */
async function claimRevision(
  client: PoolClient,
  row: Applied,
  event: OrganisationEvent,
): Promise<boolean> {
  if (event.type === 'OrganisationCreated') {
    const result = await client.query(
      `INSERT INTO organisations (org_id, name, revision, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $4) ON CONFLICT (org_id) DO NOTHING`,
      [row.organisationId, event.data.name, row.revision, row.at],
    );
    return result.rowCount === 1;
  }
  const result = await client.query(
    `UPDATE organisations SET revision = $2, updated_at = $3 WHERE org_id = $1 AND revision < $2`,
    [row.organisationId, row.revision, row.at],
  );
  return result.rowCount === 1;
}

async function applyEvent(
  client: PoolClient,
  row: Applied,
  event: OrganisationEvent,
): Promise<void> {
  const { organisationId: org, revision, at } = row;
  switch (event.type) {
    case 'OrganisationCreated':
      return; // the row was written by claimRevision
    case 'OrganisationRenamed':
      await client.query(`UPDATE organisations SET name = $2 WHERE org_id = $1`, [
        org,
        event.data.name,
      ]);
      return;
    case 'UserAdded': {
      const { userId, email, name, role } = event.data;
      await client.query(
        `INSERT INTO memberships
           (org_id, user_id, email, name, role, status, revision, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)
         ON CONFLICT (org_id, user_id) DO NOTHING`,
        [org, userId, email, name, role, revision, at],
      );
      return;
    }
    case 'UserRenamed':
      return updateMembership(client, row, event.data.userId, 'name = $4', event.data.name);
    case 'UserRoleChanged':
      return updateMembership(client, row, event.data.userId, 'role = $4', event.data.to);
    case 'UserDeactivated':
      return updateMembership(client, row, event.data.userId, 'status = $4', 'deactivated');
    case 'UserReactivated':
      return updateMembership(client, row, event.data.userId, 'status = $4', 'active');
    case 'ApiKeyIssued': {
      const { apiKeyId, name, role, createdBy, expiresAt, secretHash } = event.data;
      await client.query(
        `INSERT INTO api_keys
           (org_id, key_id, name, role, secret_hash, created_by, created_at, expires_at, revision)
         VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6, $7, $8, $9)
         ON CONFLICT (org_id, key_id) DO NOTHING`,
        [org, apiKeyId, name, role, secretHash, createdBy, at, expiresAt, revision],
      );
      return;
    }
    case 'ApiKeyRevoked':
      await client.query(
        `UPDATE api_keys SET revoked_at = $3, revision = $4
          WHERE org_id = $1 AND key_id = $2 AND revision < $4`,
        [org, event.data.apiKeyId, at, revision],
      );
      return;
  }
}

async function updateMembership(
  client: PoolClient,
  row: Applied,
  userId: string,
  assignment: string,
  value: string,
): Promise<void> {
  await client.query(
    `UPDATE memberships SET ${assignment}, revision = $3, updated_at = $5
      WHERE org_id = $1 AND user_id = $2 AND revision < $3`,
    [row.organisationId, userId, row.revision, value, row.at],
  );
}
