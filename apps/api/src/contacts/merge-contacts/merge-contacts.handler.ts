import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideMerge } from '@beecastle/domain';
import type { ContactWritten } from '../contact-written';
import { ContactRepository } from '../contact.repository';
import { MergeContactsCommand } from './merge-contacts.command';

/**
 * The target takes over what it lacks and the source is archived as merged into it, in one atomic
 * append to both streams: no reader ever sees one half. Repeating a merge records nothing.
 */
@CommandHandler(MergeContactsCommand)
export class MergeContactsHandler implements ICommandHandler<MergeContactsCommand> {
  constructor(private readonly contacts: ContactRepository) {}

  async execute(command: MergeContactsCommand): Promise<ContactWritten> {
    const { context, role, targetId, sourceId, ifMatch } = command;
    const ids = [targetId, sourceId] as const;
    const { version } = await this.contacts.changePair(
      context,
      ids,
      ifMatch,
      (target, source, now) => {
        const decided = decideMerge(
          { type: 'MergeContacts', sourceId, targetId },
          source.state,
          target.state,
          { actor: context.actor, role, now },
        );
        return { first: decided.target, second: decided.source, result: undefined };
      },
    );
    return { id: targetId, version };
  }
}
