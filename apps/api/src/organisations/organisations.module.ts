import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { CheckpointWait } from '@beecastle/read-model';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';
import { AccessProjectionWait, CheckpointAccessProjectionWait } from './access-projection-wait';
import { AddUserHandler } from './add-user/add-user.handler';
import { ApiKeysController } from './api-keys.controller';
import { CreateOrganisationHandler } from './create-organisation/create-organisation.handler';
import { DeactivateUserHandler } from './deactivate-user/deactivate-user.handler';
import { IssueApiKeyHandler } from './issue-api-key/issue-api-key.handler';
import { ListApiKeysHandler } from './list-api-keys/list-api-keys.handler';
import { ListUsersHandler } from './list-users/list-users.handler';
import { OrganisationRepository } from './organisation.repository';
import { ReactivateUserHandler } from './reactivate-user/reactivate-user.handler';
import { RevokeApiKeyHandler } from './revoke-api-key/revoke-api-key.handler';
import { UpdateUserHandler } from './update-user/update-user.handler';
import { UserAccounts } from './user-accounts';
import { UsersController } from './users.controller';

/** Organisations, their members and API keys: the write side and its queries. */
@Module({
  // The session store, so deactivation can end a member's sessions.
  imports: [AuthModule],
  controllers: [UsersController, ApiKeysController],
  providers: [
    {
      provide: AccessProjectionWait,
      inject: [APP_POOL],
      useFactory: (pool: Pool) => new CheckpointAccessProjectionWait(new CheckpointWait(pool)),
    },
    OrganisationRepository,
    UserAccounts,
    CreateOrganisationHandler,
    AddUserHandler,
    UpdateUserHandler,
    DeactivateUserHandler,
    ReactivateUserHandler,
    IssueApiKeyHandler,
    RevokeApiKeyHandler,
    ListUsersHandler,
    ListApiKeysHandler,
  ],
  exports: [OrganisationRepository, AccessProjectionWait, UserAccounts],
})
export class OrganisationsModule {}
