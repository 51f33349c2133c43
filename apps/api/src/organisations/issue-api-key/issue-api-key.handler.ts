import { randomUUID } from 'node:crypto';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { issueApiKeySecret } from '@beecastle/auth';
import { decideOrganisation } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { IssueApiKeyCommand, type IssuedApiKeyView } from './issue-api-key.command';

@CommandHandler(IssueApiKeyCommand)
export class IssueApiKeyHandler implements ICommandHandler<IssueApiKeyCommand> {
  constructor(private readonly organisations: OrganisationRepository) {}

  async execute({ context, name, role, expiresAt }: IssueApiKeyCommand): Promise<IssuedApiKeyView> {
    const apiKeyId = randomUUID();
    const { key, secretHash } = issueApiKeySecret(context.organisationId, apiKeyId);
    return this.organisations.change(context, ({ state }, now) => ({
      events: decideOrganisation(
        { type: 'IssueApiKey', apiKeyId, name, role, expiresAt, secretHash },
        state,
        { actor: context.actor, now },
      ),
      result: { id: apiKeyId, key },
    }));
  }
}
