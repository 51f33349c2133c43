import { Inject, Injectable } from '@nestjs/common';
import { withOrganisation } from '@beecastle/database';
import type { ContactEvent } from '@beecastle/domain';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';
import { ProblemException } from '../http/problem.exception';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;

/** Who may own a contact: an active member of its organisation. */
export abstract class ContactOwners {
  abstract isActiveMember(organisationId: string, userId: string): Promise<boolean>;

  /**
   * Checks the owner the events assign, if any. Only a change of owner is checked: a contact
   * whose owner has since left can still be edited without choosing another.
   */
  async requireAssignable(organisationId: string, events: readonly ContactEvent[]): Promise<void> {
    for (const event of events) {
      const owner =
        event.type === 'ContactCreated' || event.type === 'ContactUpdated'
          ? event.data.ownerUserId
          : undefined;
      if (owner === undefined || owner === null) continue;
      if (!(await this.isActiveMember(organisationId, owner)))
        throw new ProblemException(
          400,
          'VALIDATION_FAILED',
          'ownerUserId is not an active member of this organisation.',
          { fields: ['ownerUserId'] },
        );
    }
  }
}

/** From the access read model, which organisation changes wait for before they answer. */
@Injectable()
export class MembershipContactOwners extends ContactOwners {
  constructor(@Inject(APP_POOL) private readonly pool: Pool) {
    super();
  }

  async isActiveMember(organisationId: string, userId: string): Promise<boolean> {
    // Member ids are UUIDs; anything else names nobody (and must not reach a uuid cast).
    if (!UUID.test(userId)) return false;
    return withOrganisation(this.pool, organisationId, async (client) => {
      const { rowCount } = await client.query(
        `SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2 AND status = 'active'`,
        [organisationId, userId],
      );
      return rowCount === 1;
    });
  }
}
