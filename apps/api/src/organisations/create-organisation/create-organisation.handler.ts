import { randomUUID } from 'node:crypto';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decideOrganisation, DomainError, type OrganisationCommand } from '@beecastle/domain';
import { OrganisationRepository } from '../organisation.repository';
import { UserAccounts, validEmail } from '../user-accounts';
import { CreateOrganisationCommand, type CreatedOrganisation } from './create-organisation.command';

const PASSWORD_MISMATCH =
  'This email already has an account, and the password given is not its password';

@CommandHandler(CreateOrganisationCommand)
export class CreateOrganisationHandler implements ICommandHandler<CreateOrganisationCommand> {
  constructor(
    private readonly organisations: OrganisationRepository,
    private readonly accounts: UserAccounts,
  ) {}

  async execute(command: CreateOrganisationCommand): Promise<CreatedOrganisation> {
    const organisationId = randomUUID();
    const ownerEmail = validEmail(command.ownerEmail);
    const ownerName = command.ownerName ?? ownerEmail.split('@')[0];
    const context = { organisationId, actor: command.actor, correlationId: randomUUID() };
    return this.organisations.change(context, async ({ state }, now) => {
      const create = (ownerUserId: string): OrganisationCommand => ({
        type: 'CreateOrganisation',
        organisationId,
        name: command.name,
        ownerUserId,
        ownerEmail,
        ownerName,
      });
      // Decided once before any account is touched, so a refused command leaves nothing behind.
      decideOrganisation(create(randomUUID()), state, { actor: command.actor, now });
      // An existing account joins as owner only with its own password: the operator must know it.
      const existing = await this.accounts.findByEmail(ownerEmail);
      if (existing && !(await this.accounts.passwordMatches(existing.id, command.ownerPassword)))
        throw new DomainError('FORBIDDEN', PASSWORD_MISMATCH);
      const account = await this.accounts.findOrCreate(ownerEmail, command.ownerPassword);
      if (!existing && !account.created) {
        // Created by someone else a moment ago: the same rule applies to it.
        if (!(await this.accounts.passwordMatches(account.id, command.ownerPassword)))
          throw new DomainError('FORBIDDEN', PASSWORD_MISMATCH);
      }
      return {
        events: decideOrganisation(create(account.id), state, { actor: command.actor, now }),
        result: { organisationId, ownerUserId: account.id },
      };
    });
  }
}
