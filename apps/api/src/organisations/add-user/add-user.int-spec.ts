import { randomUUID } from 'node:crypto';
import { DomainError } from '@beecastle/domain';
import { PostgresEventStore } from '@beecastle/event-store';
import { AccessProjection, CheckpointWait, ProjectionRunner } from '@beecastle/read-model';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../../libs/database/src/testing/test-database';
import { CheckpointAccessProjectionWait } from '../access-projection-wait';
import { CreateOrganisationCommand } from '../create-organisation/create-organisation.command';
import { CreateOrganisationHandler } from '../create-organisation/create-organisation.handler';
import { OrganisationRepository } from '../organisation.repository';
import { UserAccounts } from '../user-accounts';
import { AddUserCommand } from './add-user.command';
import { AddUserHandler } from './add-user.handler';

const PASSWORD = 'a long enough passphrase for tests';

describe('adding users (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let runner: ProjectionRunner;
  let accounts: UserAccounts;
  let addUser: AddUserHandler;
  let createOrganisation: CreateOrganisationHandler;

  const organisation = async () => {
    const { organisationId, ownerUserId } = await createOrganisation.execute(
      new CreateOrganisationCommand(
        { type: 'system', id: 'test' },
        'Acme',
        `owner-${randomUUID()}@example.test`,
        PASSWORD,
      ),
    );
    return {
      organisationId,
      as: { organisationId, actor: { type: 'user' as const, id: ownerUserId } },
    };
  };
  const accountsNamed = async (email: string) =>
    (await db.app.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [email])).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app, { listenConnectionString: db.appUrl });
    runner = new ProjectionRunner(new AccessProjection(), {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
    });
    runner.start();
    const repository = new OrganisationRepository(
      store,
      new CheckpointAccessProjectionWait(new CheckpointWait(db.app)),
    );
    accounts = new UserAccounts(db.app);
    addUser = new AddUserHandler(repository, accounts);
    createOrganisation = new CreateOrganisationHandler(repository, accounts);
  });
  afterAll(async () => {
    await runner.stop();
    await store.close();
    await db.drop();
  });

  it('gives two organisations adding the same new email at once one account between them', async () => {
    const [a, b] = await Promise.all([organisation(), organisation()]);
    const email = `race-${randomUUID()}@example.test`;
    const [inA, inB] = await Promise.all(
      [a, b].map((org) =>
        addUser.execute(new AddUserCommand(org.as, email, 'Racer', 'viewer', PASSWORD)),
      ),
    );
    expect(inA.id).toBe(inB.id);
    expect(await accountsNamed(email)).toEqual([{ id: inA.id }]);
  });

  it('lets one of two simultaneous additions of an email to one organisation win; the other is 409', async () => {
    const org = await organisation();
    const email = `twice-${randomUUID()}@example.test`;
    const results = await Promise.allSettled(
      [1, 2].map(() =>
        addUser.execute(new AddUserCommand(org.as, email, 'Twin', 'viewer', PASSWORD)),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected')!;
    expect(refused.reason).toBeInstanceOf(DomainError);
    expect((refused.reason as DomainError).code).toBe('MEMBER_EXISTS');
    expect(await accountsNamed(email)).toHaveLength(1);
  });

  it('creates no account when the addition is refused', async () => {
    const org = await organisation();
    const email = `refused-${randomUUID()}@example.test`;
    const viewer = await addUser.execute(
      new AddUserCommand(org.as, `viewer-${randomUUID()}@example.test`, 'V', 'viewer', PASSWORD),
    );
    const byViewer = {
      organisationId: org.organisationId,
      actor: { type: 'user' as const, id: viewer.id },
    };
    await expect(
      addUser.execute(new AddUserCommand(byViewer, email, 'X', 'viewer', PASSWORD)),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(
      addUser.execute(new AddUserCommand(org.as, email, '   ', 'viewer', PASSWORD)),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await accountsNamed(email)).toEqual([]);
  });
});
