import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideOrganisation } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { ReactivateUserCommand } from './reactivate-user.command';

@CommandHandler(ReactivateUserCommand)
export class ReactivateUserHandler implements ICommandHandler<ReactivateUserCommand> {
  constructor(private readonly organisations: OrganisationRepository) {}

  async execute({ context, userId }: ReactivateUserCommand): Promise<void> {
    await this.organisations.change(context, ({ state }, now) => ({
      events: decideOrganisation({ type: 'ReactivateUser', userId }, state, {
        actor: context.actor,
        now,
      }),
      result: undefined,
    }));
  }
}
