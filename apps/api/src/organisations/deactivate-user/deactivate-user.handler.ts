import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { SessionStore } from '@beecastle/auth';
import { decideOrganisation } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { DeactivateUserCommand } from './deactivate-user.command';

@CommandHandler(DeactivateUserCommand)
export class DeactivateUserHandler implements ICommandHandler<DeactivateUserCommand> {
  constructor(
    private readonly organisations: OrganisationRepository,
    private readonly sessions: SessionStore,
  ) {}

  async execute({ context, userId }: DeactivateUserCommand): Promise<void> {
    await this.organisations.change(context, ({ state }, now) => ({
      events: decideOrganisation({ type: 'DeactivateUser', userId }, state, {
        actor: context.actor,
        now,
      }),
      result: undefined,
    }));
    // The membership check already refuses the member's tokens from the next request; ending the
    // sessions as well means a later reactivation does not bring old tokens back to life.
    await this.sessions.revokeAllOf(context.organisationId, userId, 'user_deactivated');
  }
}
