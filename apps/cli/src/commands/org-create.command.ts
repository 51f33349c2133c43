import type { Configuration } from '@beecastle/config';
import { loadMasterKey } from '@beecastle/crypto';
import { createPool, openDatabase } from '@beecastle/database';
import { DomainError } from '@beecastle/domain';
import {
  AccessProjection,
  CheckpointWait,
  ProjectionRunner,
  openEventLog,
} from '@beecastle/read-model';
import { CheckpointAccessProjectionWait } from '../../../api/src/organisations/access-projection-wait';
import { CreateOrganisationCommand } from '../../../api/src/organisations/create-organisation/create-organisation.command';
import { CreateOrganisationHandler } from '../../../api/src/organisations/create-organisation/create-organisation.handler';
import { OrganisationRepository } from '../../../api/src/organisations/organisation.repository';
import { UserAccounts } from '../../../api/src/organisations/user-accounts';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

export interface OrgCreateArguments {
  readonly name: string;
  readonly ownerEmail: string;
  readonly ownerPassword: string;
  readonly ownerName?: string;
}

/** Operators act as the system; the envelope says it was this command. */
const OPERATOR = { type: 'system', id: 'cli:org:create' } as const;

/**
 * Creates an organisation and its owner through the same handler the API module registers, then
 * prints `{"organisationId","ownerUserId"}`. The server may be running or not: the handler waits
 * until the `access` read model shows the organisation, and if no server or projector leads that
 * projection, this process leads it (from its checkpoint) until then.
 */
export async function orgCreate(
  config: Configuration,
  args: OrgCreateArguments,
  io: CliIo,
): Promise<ExitCode> {
  const { provider: masterKey } = await loadMasterKey(config);
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  const pool = createPool(database.appUrl, { applicationName: 'beecastle-cli-org-create', max: 4 });
  const eventLog = openEventLog(pool, { masterKey, listenConnectionString: database.appUrl });
  const { store } = eventLog;
  // Takes the projection's leadership lock only if nobody holds it; otherwise stands by.
  const projection = new ProjectionRunner(new AccessProjection(), {
    pool,
    store,
    lockConnectionString: database.appUrl,
    standbyRetryMs: 250,
  });
  projection.start();
  try {
    const handler = new CreateOrganisationHandler(
      new OrganisationRepository(
        store,
        new CheckpointAccessProjectionWait(new CheckpointWait(pool, { timeoutMs: 60_000 })),
      ),
      new UserAccounts(pool),
    );
    const created = await handler.execute(
      new CreateOrganisationCommand(
        OPERATOR,
        args.name,
        args.ownerEmail,
        args.ownerPassword,
        args.ownerName,
      ),
    );
    io.stdout(jsonLine(created));
    return ExitCode.Ok;
  } catch (error) {
    // A refusal (bad email or name, weak password, an existing account's wrong password) is the
    // invocation's to fix; anything else propagates as "could not finish".
    if (!(error instanceof DomainError)) throw error;
    io.stderr(`org:create refused: ${error.message}\n`);
    return ExitCode.Usage;
  } finally {
    await projection.stop();
    await eventLog.close();
    await pool.end();
    await database.close();
  }
}
