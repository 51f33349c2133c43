import { Command } from '@nestjs/cqrs';
import type { Actor } from '@beecastle/domain';

export interface CreatedOrganisation {
  readonly organisationId: string;
  readonly ownerUserId: string;
}

/** An operator's act (CLI): a new organisation with its first owner. */
export class CreateOrganisationCommand extends Command<CreatedOrganisation> {
  constructor(
    readonly actor: Actor,
    readonly name: string,
    readonly ownerEmail: string,
    readonly ownerPassword: string,
    /** Default: the email's local part. */
    readonly ownerName?: string,
  ) {
    super();
  }
}
