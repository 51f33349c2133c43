import { randomUUID } from 'node:crypto';
import { parseApiKey, type SessionStore } from '@beecastle/auth';
import { DomainError, type Actor, type OrganisationEvent } from '@beecastle/domain';
import {
  InMemoryEventStore,
  streamName,
  type AppendOptions,
  type AppendResult,
  type NewEvent,
  type Position,
} from '@beecastle/event-store';
import {
  decodeOrganisationEvent,
  encodeOrganisationEventData,
  ProjectionLagError,
} from '@beecastle/read-model';
import { ProblemException } from '../http/problem.exception';
import { AccessProjectionWait } from './access-projection-wait';
import type { CommandContext } from './command-context';
import { DeactivateUserCommand } from './deactivate-user/deactivate-user.command';
import { DeactivateUserHandler } from './deactivate-user/deactivate-user.handler';
import { IssueApiKeyCommand } from './issue-api-key/issue-api-key.command';
import { IssueApiKeyHandler } from './issue-api-key/issue-api-key.handler';
import { OrganisationRepository } from './organisation.repository';
import { ReactivateUserCommand } from './reactivate-user/reactivate-user.command';
import { ReactivateUserHandler } from './reactivate-user/reactivate-user.handler';
import { RevokeApiKeyCommand } from './revoke-api-key/revoke-api-key.command';
import { RevokeApiKeyHandler } from './revoke-api-key/revoke-api-key.handler';
import { UpdateUserCommand } from './update-user/update-user.command';
import { UpdateUserHandler } from './update-user/update-user.handler';

/** Records the positions handlers wait for, and lets every wait through. */
class RecordingWait extends AccessProjectionWait {
  readonly positions: Position[] = [];
  until(position: Position): Promise<void> {
    this.positions.push(position);
    return Promise.resolve();
  }
}

/** The in-memory log, counting appends, with an optional concurrent writer before each append. */
class ObservedStore extends InMemoryEventStore {
  appends = 0;
  beforeAppend?: () => Promise<void>;
  override async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    this.appends += 1;
    await this.beforeAppend?.();
    return super.appendToStream(stream, events, options);
  }
}

/** Records which members' sessions a deactivation ended (the SQL is covered by the e2e). */
const ended: { organisationId: string; userId: string }[] = [];
const sessions = {
  revokeAllOf: (organisationId: string, userId: string) => {
    ended.push({ organisationId, userId });
    return Promise.resolve(1);
  },
} as unknown as SessionStore;

describe('organisation command handlers (in-memory log)', () => {
  const org = randomUUID();
  const stream = streamName('organisation', org, org);
  const ids = { owner: randomUUID(), admin: randomUUID(), editor: randomUUID() };
  const as = (id: string): CommandContext => ({
    organisationId: org,
    actor: { type: 'user', id },
    requestId: 'req-1234567890',
    clientIp: '203.0.113.7',
  });
  let store: ObservedStore;
  let wait: RecordingWait;
  let repository: OrganisationRepository;

  const toNew = (event: OrganisationEvent): NewEvent => ({
    eventId: randomUUID(),
    type: event.type,
    schemaVersion: 1,
    data: encodeOrganisationEventData(event),
    metadata: { organisationId: org, actorId: 'test', actorType: 'system' },
  });
  const added = (userId: string, role: 'owner' | 'admin' | 'editor'): OrganisationEvent => ({
    type: 'UserAdded',
    schemaVersion: 1,
    data: { userId, email: `${role}@acme.test`, name: role, role },
  });
  const history = async () =>
    (await store.readStream(stream)).map((e) => ({
      ...decodeOrganisationEvent(e),
      revision: e.revision,
      metadata: e.metadata,
    }));
  const refusal = async (promise: Promise<unknown>) => {
    const before = await store.readStream(stream);
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(await store.readStream(stream)).toHaveLength(before.length);
    return error;
  };

  beforeEach(async () => {
    store = new ObservedStore();
    wait = new RecordingWait();
    repository = new OrganisationRepository(store, wait);
    await store.appendToStream(
      stream,
      [
        {
          type: 'OrganisationCreated',
          schemaVersion: 1,
          data: { organisationId: org, name: 'Acme' },
        },
        added(ids.owner, 'owner'),
        added(ids.admin, 'admin'),
        added(ids.editor, 'editor'),
      ].map((e) => toNew(e as OrganisationEvent)),
      { expectedRevision: 'no_stream' },
    );
    store.appends = 0;
  });

  it('renames and changes a role in one append, waits for the read model, and answers the user', async () => {
    const view = await new UpdateUserHandler(repository).execute(
      new UpdateUserCommand(as(ids.admin), ids.editor, { name: 'Eddie', role: 'viewer' }),
    );
    expect(view).toEqual({
      id: ids.editor,
      email: 'editor@acme.test',
      name: 'Eddie',
      role: 'viewer',
      status: 'active',
    });
    expect(store.appends).toBe(1);
    const events = await history();
    expect(events.slice(4).map((e) => e.type)).toEqual(['UserRenamed', 'UserRoleChanged']);
    const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    expect(wait.positions).toEqual([last.position]);
  });

  it('records who, from where and in which request on every event', async () => {
    await new DeactivateUserHandler(repository, sessions).execute(
      new DeactivateUserCommand(as(ids.admin), ids.editor),
    );
    const [event] = (await history()).slice(4);
    expect(event).toMatchObject({ type: 'UserDeactivated', data: { userId: ids.editor } });
    expect(ended).toContainEqual({ organisationId: org, userId: ids.editor });
    expect(event.metadata).toEqual({
      organisationId: org,
      actorId: ids.admin,
      actorType: 'user',
      requestId: 'req-1234567890',
      correlationId: 'req-1234567890',
      clientIp: '203.0.113.7',
    });
  });

  it('refuses an admin granting owner, appending nothing (not even the allowed rename)', async () => {
    const error = await refusal(
      new UpdateUserHandler(repository).execute(
        new UpdateUserCommand(as(ids.admin), ids.editor, { name: 'Eddie', role: 'owner' }),
      ),
    );
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('FORBIDDEN');
    expect(store.appends).toBe(0);
    expect(wait.positions).toEqual([]);
  });

  it('refuses an empty change', async () => {
    const error = await refusal(
      new UpdateUserHandler(repository).execute(
        new UpdateUserCommand(as(ids.admin), ids.editor, {}),
      ),
    );
    expect((error as DomainError).code).toBe('VALIDATION_FAILED');
  });

  it('answers a user of no organisation’s stream, or of another one, with NOT_FOUND', async () => {
    const error = await refusal(
      new DeactivateUserHandler(repository, sessions).execute(
        new DeactivateUserCommand(as(ids.owner), randomUUID()),
      ),
    );
    expect((error as DomainError).code).toBe('NOT_FOUND');
  });

  it('appends nothing and waits for nothing when nothing changes', async () => {
    await new ReactivateUserHandler(repository).execute(
      new ReactivateUserCommand(as(ids.owner), ids.editor),
    );
    expect(store.appends).toBe(0);
    expect(wait.positions).toEqual([]);
  });

  it('issues a key whose secret is answered once and only its hash is logged', async () => {
    const issued = await new IssueApiKeyHandler(repository).execute(
      new IssueApiKeyCommand(as(ids.admin), 'CRM sync', 'editor', null),
    );
    const parsed = parseApiKey(issued.key);
    expect(parsed).toMatchObject({ organisationId: org, apiKeyId: issued.id });
    const [event] = (await history()).slice(4);
    expect(event).toMatchObject({
      type: 'ApiKeyIssued',
      data: { apiKeyId: issued.id, role: 'editor', createdBy: ids.admin },
    });
    expect((event.data as { secretHash: string }).secretHash).toBe(
      parsed!.secretHash.toString('hex'),
    );
    const raw = Buffer.from((await store.readStream(stream))[4].data).toString('utf8');
    expect(raw).not.toContain(issued.key.slice(4));
  });

  it('refuses a key above its creator’s role', async () => {
    const error = await refusal(
      new IssueApiKeyHandler(repository).execute(
        new IssueApiKeyCommand(as(ids.admin), 'too much', 'owner', null),
      ),
    );
    expect((error as DomainError).code).toBe('FORBIDDEN');
  });

  it('refuses an API key revoking a key', async () => {
    const issued = await new IssueApiKeyHandler(repository).execute(
      new IssueApiKeyCommand(as(ids.owner), 'admin key', 'admin', null),
    );
    const byKey: CommandContext = {
      organisationId: org,
      actor: { type: 'api_key', id: issued.id } satisfies Actor,
    };
    await new RevokeApiKeyHandler(repository).execute(new RevokeApiKeyCommand(byKey, issued.id));
    const error = await refusal(
      new RevokeApiKeyHandler(repository).execute(new RevokeApiKeyCommand(byKey, issued.id)),
    );
    // Its own revocation took effect: the revoked key has no role left.
    expect((error as DomainError).code).toBe('FORBIDDEN');
  });

  it('decides again on the new state when another change lands in between', async () => {
    let interfering = 1;
    store.beforeAppend = async () => {
      if (interfering-- <= 0) return;
      const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      await InMemoryEventStore.prototype.appendToStream.call(
        store,
        stream,
        [toNew({ type: 'UserRenamed', schemaVersion: 1, data: { userId: ids.admin, name: 'Ad' } })],
        { expectedRevision: last.revision },
      );
    };
    await new DeactivateUserHandler(repository, sessions).execute(
      new DeactivateUserCommand(as(ids.owner), ids.editor),
    );
    expect(store.appends).toBe(2);
    expect((await history()).slice(4).map((e) => e.type)).toEqual([
      'UserRenamed',
      'UserDeactivated',
    ]);
  });

  it('gives up with 409 when the organisation keeps changing', async () => {
    store.beforeAppend = async () => {
      const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      await InMemoryEventStore.prototype.appendToStream.call(
        store,
        stream,
        [toNew({ type: 'OrganisationRenamed', schemaVersion: 1, data: { name: randomUUID() } })],
        { expectedRevision: last.revision },
      );
    };
    const error = await new DeactivateUserHandler(repository, sessions)
      .execute(new DeactivateUserCommand(as(ids.owner), ids.editor))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProblemException);
    expect((error as ProblemException).status).toBe(409);
    expect((await history()).map((e) => e.type)).not.toContain('UserDeactivated');
  });

  it('answers 503, not "done", when the read model does not catch up in time', async () => {
    const lagging = new (class extends AccessProjectionWait {
      until(position: Position): Promise<void> {
        return Promise.reject(new ProjectionLagError('access', position, undefined, 10));
      }
    })();
    const error = await new DeactivateUserHandler(
      new OrganisationRepository(store, lagging),
      sessions,
    )
      .execute(new DeactivateUserCommand(as(ids.owner), ids.editor))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProblemException);
    expect((error as ProblemException).status).toBe(503);
    // The event is in the log all the same: the answer says so.
    expect((await history()).map((e) => e.type)).toContain('UserDeactivated');
    expect(store.appends).toBe(1);
  });
});
