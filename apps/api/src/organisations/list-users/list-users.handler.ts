import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { withOrganisation } from '@beecastle/database';
import { forbidden, type Role } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../../database/database.module';
import { ListUsersQuery } from './list-users.query';
import type { UserView } from './user.view';

/** The organisation's members from the access read model, under its row-level security. */
@QueryHandler(ListUsersQuery)
export class ListUsersHandler implements IQueryHandler<ListUsersQuery> {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {}

  async execute({ auth }: ListUsersQuery): Promise<{ items: UserView[] }> {
    if (!auth.permissions.includes('users:manage')) throw forbidden('users:manage is needed');
    const rows = await withOrganisation(this.pool, auth.organisationId, async (client) => {
      const result = await client.query<{
        user_id: string;
        email: string;
        name: string;
        role: Role;
        status: UserView['status'];
      }>(
        `SELECT user_id, email, name, role, status FROM memberships
          WHERE org_id = $1 ORDER BY created_at, user_id`,
        [auth.organisationId],
      );
      return result.rows;
    });
    return {
      items: rows.map((r) => ({
        id: r.user_id,
        email: r.email,
        name: r.name,
        role: r.role,
        status: r.status,
      })),
    };
  }
}
