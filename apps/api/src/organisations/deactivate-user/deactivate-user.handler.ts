import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideOrganisation } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { DeactivateUserCommand } from './deactivate-user.command';

@CommandHandler(DeactivateUserCommand)
export class DeactivateUserHandler implements ICommandHandler<DeactivateUserCommand> {
  constructor(private readonly organisations: OrganisationRepository) {}

  async execute({ context, userId }: DeactivateUserCommand): Promise<void> {
    await this.organisations.change(context, ({ state }, now) => ({
      events: decideOrganisation({ type: 'DeactivateUser', userId }, state, {
        actor: context.actor,
        now,
      }),
      result: undefined,
    }));
  }
}
