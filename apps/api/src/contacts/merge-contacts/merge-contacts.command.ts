import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';
import type { ContactWritten } from '../contact-written';

/** Answers the target's id and new version. */
export class MergeContactsCommand extends Command<ContactWritten> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role,
    readonly targetId: string,
    readonly sourceId: string,
    /** The target's version, when the client names one. */
    readonly ifMatch: number | undefined,
  ) {
    super();
  }
}
