import { Command } from '@nestjs/cqrs';
import type { CommandContext } from '../command-context';

export class RevokeApiKeyCommand extends Command<void> {
  constructor(
    readonly context: CommandContext,
    readonly apiKeyId: string,
  ) {
    super();
  }
}
