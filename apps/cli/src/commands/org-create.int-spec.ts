import { randomUUID } from 'node:crypto';
import { verifyPassword } from '@beecastle/auth';
import { withOrganisation } from '@beecastle/database';
import { streamName, type EventStore } from '@beecastle/event-store';
import type { EventLog } from '@beecastle/read-model';
import { openTestEventLog } from '../../../../libs/read-model/src/testing/test-event-log';
import {
  AccessProjection,
  ORGANISATION_EVENT_TYPES,
  ProjectionRunner,
} from '@beecastle/read-model';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../libs/database/src/testing/test-database';
import { runCli } from '../cli';
import { ExitCode } from '../exit-codes';
import { capturedIo } from '../testing/captured-io';

const PASSWORD = 'correct horse battery staple';

describe('org:create against a real database', () => {
  let db: TestDatabase;
  // The log as the CLI writes it: encrypted, read here with the same master key.
  let eventLog: EventLog;
  let store: EventStore;

  const orgCreate = async (args: string[]) => {
    const io = capturedIo({ DATABASE_URL: db.appUrl });
    const code = await runCli(['org:create', ...args], io);
    return { code, out: io.out, err: io.err };
  };
  const created = (out: string) =>
    JSON.parse(out) as { organisationId: string; ownerUserId: string };
  const organisationEvents = async () =>
    store.readAll({ filter: { eventTypes: ORGANISATION_EVENT_TYPES } });
  const account = async (email: string) =>
    (
      await db.app.query<{ id: string; password_hash: string }>(
        'SELECT id, password_hash FROM users WHERE email = $1',
        [email],
      )
    ).rows[0];
  const readModel = (organisationId: string) =>
    withOrganisation(db.app, organisationId, async (client) => ({
      organisation: (await client.query('SELECT org_id, name FROM organisations')).rows,
      members: (await client.query('SELECT user_id, email, name, role, status FROM memberships'))
        .rows,
    }));

  beforeAll(async () => {
    db = await createTestDatabase();
    eventLog = openTestEventLog(db.app);
    store = eventLog.store;
  });
  afterAll(async () => {
    await eventLog.close();
    await db.drop();
  });

  it('prints one JSON line, and the organisation is in the read model when it returns', async () => {
    const email = `Owner-${randomUUID()}@Example.TEST`;
    const { code, out, err } = await orgCreate([
      '--name',
      'Acme',
      '--owner-email',
      ` ${email} `,
      '--owner-password',
      PASSWORD,
    ]);
    expect({ code, err }).toEqual({ code: ExitCode.Ok, err: '' });
    expect(out.endsWith('\n') && out.trimEnd().split('\n')).toHaveLength(1);
    const { organisationId, ownerUserId } = created(out);
    const normalised = email.toLowerCase();

    expect(await readModel(organisationId)).toEqual({
      organisation: [{ org_id: organisationId, name: 'Acme' }],
      members: [
        {
          user_id: ownerUserId,
          email: normalised,
          name: normalised.split('@')[0],
          role: 'owner',
          status: 'active',
        },
      ],
    });
    const stored = await account(normalised);
    expect(stored.id).toBe(ownerUserId);
    await expect(verifyPassword(PASSWORD, stored.password_hash)).resolves.toBe(true);
    const events = await store.readStream(
      streamName('organisation', organisationId, organisationId),
    );
    expect(events.map((e) => e.type)).toEqual(['OrganisationCreated', 'UserAdded']);
    expect(events[0].metadata).toMatchObject({ actorType: 'system', actorId: 'cli:org:create' });
    expect(Buffer.from(events[1].data).toString('utf8')).not.toContain(PASSWORD);
  });

  it('creates a second, distinct organisation of the same name, with the same owner account', async () => {
    const email = `twice-${randomUUID()}@example.test`;
    const args = ['--name', 'Same', '--owner-email', email, '--owner-password', PASSWORD];
    const first = await orgCreate([...args, '--owner-name', 'Tess Twice']);
    const second = await orgCreate(args);
    expect([first.code, second.code]).toEqual([ExitCode.Ok, ExitCode.Ok]);
    const [a, b] = [created(first.out), created(second.out)];
    expect(a.organisationId).not.toBe(b.organisationId);
    expect(a.ownerUserId).toBe(b.ownerUserId);
    expect((await readModel(a.organisationId)).members).toMatchObject([{ name: 'Tess Twice' }]);
    expect((await readModel(b.organisationId)).members).toMatchObject([
      { user_id: a.ownerUserId, role: 'owner' },
    ]);
  });

  it('refuses an existing account with the wrong password: exit 2, one line, nothing appended', async () => {
    const email = `taken-${randomUUID()}@example.test`;
    const first = await orgCreate([
      '--name',
      'A',
      '--owner-email',
      email,
      '--owner-password',
      PASSWORD,
    ]);
    expect(first.code).toBe(ExitCode.Ok);
    const before = await organisationEvents();
    const hashBefore = (await account(email)).password_hash;

    const { code, out, err } = await orgCreate([
      '--name',
      'B',
      '--owner-email',
      email,
      '--owner-password',
      'another long password entirely',
    ]);
    expect({ code, out }).toEqual({ code: ExitCode.Usage, out: '' });
    expect(err).toMatch(/^org:create refused: .*already has an account.*\n$/);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(await organisationEvents()).toHaveLength(before.length);
    expect((await account(email)).password_hash).toBe(hashBefore);
  });

  it.each([
    ['a password the policy refuses', ['--owner-password', 'short'], /too short/],
    ['a common password', ['--owner-password', 'password1234'], /most common/],
    ['a malformed email', ['--owner-email', 'not-an-email'], /email/],
    ['a blank name', ['--name', '   '], /name/i],
  ])('refuses %s: exit 2, one line, nothing appended, no account', async (_what, override, why) => {
    const email = `refused-${randomUUID()}@example.test`;
    const args = new Map([
      ['--name', 'Acme'],
      ['--owner-email', email],
      ['--owner-password', PASSWORD],
    ]);
    args.set(override[0], override[1]);
    const before = await organisationEvents();
    const { code, out, err } = await orgCreate([...args].flat());
    expect({ code, out }).toEqual({ code: ExitCode.Usage, out: '' });
    expect(err).toMatch(why);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(await organisationEvents()).toHaveLength(before.length);
    expect(await account(email)).toBeUndefined();
  });

  it('refuses missing options before touching the database', async () => {
    const { code, err } = await orgCreate(['--name', 'Acme']);
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/--owner-email/);
  });

  it('works beside a running projector, which then applies the organisation itself', async () => {
    // Stands in for the server's projector: it holds the projection's leadership lock.
    const server = new ProjectionRunner(new AccessProjection(), {
      pool: db.app,
      store,
      lockConnectionString: db.appUrl,
    });
    server.start();
    try {
      const deadline = Date.now() + 10_000;
      while (server.current.state !== 'live' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(server.current.state).toBe('live');
      const email = `beside-${randomUUID()}@example.test`;
      const { code, out } = await orgCreate([
        '--name',
        'Beside',
        '--owner-email',
        email,
        '--owner-password',
        PASSWORD,
      ]);
      expect(code).toBe(ExitCode.Ok);
      const { organisationId } = created(out);
      expect((await readModel(organisationId)).organisation).toEqual([
        { org_id: organisationId, name: 'Beside' },
      ]);
      expect(server.current.state).toBe('live');
    } finally {
      await server.stop();
    }
  });
});
