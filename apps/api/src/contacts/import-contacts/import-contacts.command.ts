import { Command } from '@nestjs/cqrs';
import type { ContactInput, Role } from '@beecastle/domain';
import type { CommandContext } from '../../organisations/command-context';

/** The new contacts' ids, in the order the contacts were given. */
export interface ImportedContacts {
  readonly ids: readonly string[];
}

/**
 * Many new contacts at once, each checked as `POST /v1/contacts` checks one. `role` is the actor's
 * role in the organisation (undefined for the system, which needs none).
 */
export class ImportContactsCommand extends Command<ImportedContacts> {
  constructor(
    readonly context: CommandContext,
    readonly role: Role | undefined,
    readonly contacts: readonly ContactInput[],
  ) {
    super();
  }
}
