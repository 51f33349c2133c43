import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { withOrganisation } from '@beecastle/database';
import { forbidden, type Role } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { ListApiKeysQuery, type ApiKeyView } from './list-api-keys.query';

interface ApiKeyRow {
  key_id: string;
  name: string;
  role: Role;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

@QueryHandler(ListApiKeysQuery)
export class ListApiKeysHandler implements IQueryHandler<ListApiKeysQuery> {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async execute({ auth }: ListApiKeysQuery): Promise<{ items: ApiKeyView[] }> {
    if (!auth.permissions.includes('apikeys:manage')) throw forbidden('apikeys:manage is needed');
    const rows = await withOrganisation(this.pool, auth.organisationId, async (client) => {
      // lastUsedAt is kept apart (api_key_usage) so that rebuilding the read model keeps it.
      const result = await client.query<ApiKeyRow>(
        `SELECT k.key_id, k.name, k.role, k.created_at, k.expires_at, k.revoked_at,
                u.last_used_at
           FROM api_keys k
           LEFT JOIN api_key_usage u ON u.org_id = k.org_id AND u.key_id = k.key_id
          WHERE k.org_id = $1
          ORDER BY k.created_at, k.key_id`,
        [auth.organisationId],
      );
      return result.rows;
    });
    return {
      items: rows.map((r) => ({
        id: r.key_id,
        name: r.name,
        role: r.role,
        createdAt: r.created_at.toISOString(),
        expiresAt: r.expires_at?.toISOString() ?? null,
        lastUsedAt: r.last_used_at?.toISOString() ?? null,
        revokedAt: r.revoked_at?.toISOString() ?? null,
      })),
    };
  }
}
