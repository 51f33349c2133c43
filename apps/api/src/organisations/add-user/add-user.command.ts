import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../command-context';

export class AddUserCommand extends Command<{ id: string }> {
  constructor(
    readonly context: CommandContext,
    readonly email: string,
    readonly name: string,
    readonly role: Role,
    /** Used only when the email has no account yet; an existing account keeps its own. */
    readonly password: string,
  ) {
    super();
  }
}
