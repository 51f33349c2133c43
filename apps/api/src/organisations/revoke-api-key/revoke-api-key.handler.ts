import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideOrganisation } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { RevokeApiKeyCommand } from './revoke-api-key.command';

@CommandHandler(RevokeApiKeyCommand)
export class RevokeApiKeyHandler implements ICommandHandler<RevokeApiKeyCommand> {
  constructor(private readonly organisations: OrganisationRepository) {}

  async execute({ context, apiKeyId }: RevokeApiKeyCommand): Promise<void> {
    await this.organisations.change(context, ({ state }, now) => ({
      events: decideOrganisation({ type: 'RevokeApiKey', apiKeyId }, state, {
        actor: context.actor,
        now,
      }),
      result: undefined,
    }));
  }
}
