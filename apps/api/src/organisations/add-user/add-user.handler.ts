import { randomUUID } from 'node:crypto';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideOrganisation, type OrganisationCommand } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { UserAccounts, validEmail } from '../user-accounts';
import { AddUserCommand } from './add-user.command';

@CommandHandler(AddUserCommand)
export class AddUserHandler implements ICommandHandler<AddUserCommand> {
  constructor(
    private readonly organisations: OrganisationRepository,
    private readonly accounts: UserAccounts,
  ) {}

  async execute(command: AddUserCommand): Promise<{ id: string }> {
    const { context, name, role, password } = command;
    const email = validEmail(command.email);
    return this.organisations.change(context, async ({ state }, now) => {
      const add = (userId: string): OrganisationCommand => ({
        type: 'AddUser',
        userId,
        email,
        name,
        role,
      });
      // Permission, membership and validation first: a refused request creates no account.
      const existing = await this.accounts.findByEmail(email);
      decideOrganisation(add(existing?.id ?? randomUUID()), state, { actor: context.actor, now });
      const account = await this.accounts.findOrCreate(email, password);
      return {
        events: decideOrganisation(add(account.id), state, { actor: context.actor, now }),
        result: { id: account.id },
      };
    });
  }
}
