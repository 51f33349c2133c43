import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../command-context';
import type { UserView } from '../list-users/user.view';

export class UpdateUserCommand extends Command<UserView> {
  constructor(
    readonly context: CommandContext,
    readonly userId: string,
    readonly changes: { readonly role?: Role; readonly name?: string },
  ) {
    super();
  }
}
