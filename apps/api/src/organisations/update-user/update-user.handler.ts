import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import {
  decideOrganisation,
  DomainError,
  evolveOrganisation,
  type OrganisationCommand,
  type OrganisationEvent,
} from '@beecastle/domain';
import { userView, type UserView } from '../list-users/user.view';
import { OrganisationRepository } from '../organisation.repository';
import { UpdateUserCommand } from './update-user.command';

/** A rename and a role change in one request: decided in turn, appended together or not at all. */
@CommandHandler(UpdateUserCommand)
export class UpdateUserHandler implements ICommandHandler<UpdateUserCommand> {
  constructor(private readonly organisations: OrganisationRepository) {}

  async execute({ context, userId, changes }: UpdateUserCommand): Promise<UserView> {
    const commands: OrganisationCommand[] = [];
    if (changes.name !== undefined)
      commands.push({ type: 'RenameUser', userId, name: changes.name });
    if (changes.role !== undefined)
      commands.push({ type: 'ChangeUserRole', userId, role: changes.role });
    if (commands.length === 0)
      throw new DomainError('VALIDATION_FAILED', 'Give a role, a name or both');
    return this.organisations.change(context, ({ state }, now) => {
      let current = state;
      const events: OrganisationEvent[] = [];
      for (const command of commands) {
        const decided = decideOrganisation(command, current, { actor: context.actor, now });
        events.push(...decided);
        current = decided.reduce(evolveOrganisation, current);
      }
      return { events, result: userView(current, userId) };
    });
  }
}
