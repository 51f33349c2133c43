import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';

export class EraseContactCommand extends Command<void> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly contactId: string,
    /** Optional here; honoured when given. */
    readonly ifMatch: number | undefined,
  ) {
    super();
  }
}
