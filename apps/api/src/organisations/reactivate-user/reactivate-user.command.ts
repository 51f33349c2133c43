import { Command } from '@nestjs/cqrs';
import type { CommandContext } from '../command-context';

export class ReactivateUserCommand extends Command<void> {
  constructor(
    readonly context: CommandContext,
    readonly userId: string,
  ) {
    super();
  }
}
