import { Command } from '@nestjs/cqrs';
import type { Role } from '@beecastle/domain';
import type { CommandContext } from '../command-context';

export interface IssuedApiKeyView {
  readonly id: string;
  /** The whole key: answered this once, stored nowhere (the log keeps a hash of its secret). */
  readonly key: string;
}

export class IssueApiKeyCommand extends Command<IssuedApiKeyView> {
  constructor(
    readonly context: CommandContext,
    readonly name: string,
    readonly role: Role,
    readonly expiresAt: string | null,
  ) {
    super();
  }
}
