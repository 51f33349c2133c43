import { randomUUID } from 'node:crypto';
import {
  decideContact,
  type DomainError,
  type ContactEvent,
  type ContactInput,
  type InteractionInput,
  type Role,
} from '@beecastle/domain';
import {
  InMemoryEventStore,
  type AppendOptions,
  type AppendResult,
  type NewEvent,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
} from '@beecastle/event-store';
import { decodeContactEvent, encodeContactEventData } from '@beecastle/read-model';
import { ProblemException } from '../http/problem.exception';
import type { CommandContext } from '../organisations/command-context';
import { ArchiveContactCommand } from './archive-contact/archive-contact.command';
import { ArchiveContactHandler } from './archive-contact/archive-contact.handler';
import { ContactOwners } from './contact-owners';
import { ContactStates } from './contact-states';
import { contactStream, ContactRepository } from './contact.repository';
import { CreateContactCommand } from './create-contact/create-contact.command';
import { CreateContactHandler } from './create-contact/create-contact.handler';
import { LogInteractionCommand } from './log-interaction/log-interaction.command';
import { LogInteractionHandler } from './log-interaction/log-interaction.handler';
import { MergeContactsCommand } from './merge-contacts/merge-contacts.command';
import { MergeContactsHandler } from './merge-contacts/merge-contacts.handler';
import { RemoveInteractionCommand } from './remove-interaction/remove-interaction.command';
import { RemoveInteractionHandler } from './remove-interaction/remove-interaction.handler';
import { UnarchiveContactCommand } from './unarchive-contact/unarchive-contact.command';
import { UnarchiveContactHandler } from './unarchive-contact/unarchive-contact.handler';
import { UpdateContactCommand } from './update-contact/update-contact.command';
import { UpdateContactHandler } from './update-contact/update-contact.handler';
import { UpdateInteractionCommand } from './update-interaction/update-interaction.command';
import { UpdateInteractionHandler } from './update-interaction/update-interaction.handler';

/** The in-memory log, counting reads and appends, with an optional concurrent writer before each append. */
class ObservedStore extends InMemoryEventStore {
  appends = 0;
  reads = 0;
  expected: AppendOptions['expectedRevision'][] = [];
  beforeAppend?: () => Promise<void>;
  override readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.reads += 1;
    return super.readStream(stream, options);
  }
  override async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    this.appends += 1;
    this.expected.push(options.expectedRevision);
    await this.beforeAppend?.();
    return super.appendToStream(stream, events, options);
  }
  override async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.appends += 1;
    await this.beforeAppend?.();
    return super.appendToStreams(appends);
  }
}

/** Members as the access read model would list them (the SQL is covered by the e2e). */
class KnownOwners extends ContactOwners {
  readonly active = new Set<string>();
  isActiveMember(_organisationId: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.active.has(userId));
  }
}

// Every case twice: as a process that remembers the contacts it writes (ContactStates), and as one
// that reads every contact's stream before each change. The answers and the log must not differ.
describe.each([
  ['remembering what it wrote', () => new ContactStates()],
  ['reading every stream', () => new ContactStates({ maxWeight: 0 })],
])('contact command handlers (in-memory log), %s', (_name, states) => {
  const org = randomUUID();
  const editor = randomUUID();
  const context: CommandContext = {
    organisationId: org,
    actor: { type: 'user', id: editor },
    requestId: 'req-1234567890',
    clientIp: '203.0.113.7',
  };
  let store: ObservedStore;
  let owners: KnownOwners;
  let contacts: ContactRepository;

  const history = async (contactId: string): Promise<ContactEvent[]> =>
    (await store.readStream(contactStream(org, contactId)).catch(() => [])).map(decodeContactEvent);
  const length = async (contactId: string) => (await history(contactId)).length;

  /** Runs `promise`, asserts it was refused and that none of the streams moved; answers why. */
  const refusal = async (contactIds: readonly string[], promise: () => Promise<unknown>) => {
    const before = await Promise.all(contactIds.map(length));
    const appendsBefore = store.appends;
    const error = await promise().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    expect(await Promise.all(contactIds.map(length))).toEqual(before);
    // Nothing was even attempted, unless a conflicting writer made the attempt fail.
    if (!store.beforeAppend) expect(store.appends).toBe(appendsBefore);
    return error;
  };
  const codeOf = (error: unknown) =>
    error instanceof ProblemException
      ? { status: error.status, code: error.code, fields: error.extensions.fields }
      : { code: (error as DomainError).code };

  const create = (fields: ContactInput, role: Role = 'editor') =>
    new CreateContactHandler(contacts, owners).execute(
      new CreateContactCommand(context, role, fields),
    );
  const update = (id: string, ifMatch: number, changes: ContactInput, role: Role = 'editor') =>
    new UpdateContactHandler(contacts, owners).execute(
      new UpdateContactCommand(context, role, id, ifMatch, changes),
    );
  const archive = (id: string, ifMatch?: number) =>
    new ArchiveContactHandler(contacts).execute(
      new ArchiveContactCommand(context, 'editor', id, ifMatch),
    );
  const unarchive = (id: string) =>
    new UnarchiveContactHandler(contacts).execute(
      new UnarchiveContactCommand(context, 'editor', id, undefined),
    );
  const merge = (targetId: string, sourceId: string, ifMatch?: number, role: Role = 'editor') =>
    new MergeContactsHandler(contacts).execute(
      new MergeContactsCommand(context, role, targetId, sourceId, ifMatch),
    );
  const log = (id: string, interaction: InteractionInput, role: Role = 'editor') =>
    new LogInteractionHandler(contacts).execute(
      new LogInteractionCommand(context, role, id, undefined, interaction),
    );
  const updateInteraction = (
    id: string,
    interactionId: string,
    ifMatch: number,
    changes: UpdateInteractionCommand['changes'],
  ) =>
    new UpdateInteractionHandler(contacts).execute(
      new UpdateInteractionCommand(context, 'editor', id, interactionId, ifMatch, changes),
    );
  const remove = (id: string, interactionId: string) =>
    new RemoveInteractionHandler(contacts).execute(
      new RemoveInteractionCommand(context, 'editor', id, interactionId, undefined),
    );

  /** Another writer's change to the contact, landing just before our append. */
  const interfere = (contactId: string, times: number) => {
    let left = times;
    store.beforeAppend = async () => {
      if (left-- <= 0) return;
      const [last] = await store.readStream(contactStream(org, contactId), {
        direction: 'backwards',
        maxCount: 1,
      });
      const event: ContactEvent = {
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { notes: randomUUID() },
      };
      await InMemoryEventStore.prototype.appendToStream.call(
        store,
        contactStream(org, contactId),
        [
          {
            eventId: randomUUID(),
            type: event.type,
            schemaVersion: 1,
            data: encodeContactEventData(event),
            metadata: { organisationId: org, actorId: 'other', actorType: 'system' },
          },
        ],
        { expectedRevision: last.revision },
      );
    };
  };

  beforeEach(() => {
    store = new ObservedStore();
    owners = new KnownOwners();
    owners.active.add(editor);
    contacts = new ContactRepository(store, states());
  });

  describe('create', () => {
    it('names the contact itself and records its fields, who and from where', async () => {
      const written = await create({
        firstName: 'Ada',
        emails: [{ address: 'ada@example.com', label: 'work' }],
        ownerUserId: editor,
      });
      expect(written).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), version: 0 });
      const [created] = await history(written.id);
      expect(created).toMatchObject({
        type: 'ContactCreated',
        data: {
          contactId: written.id,
          firstName: 'Ada',
          lastName: null,
          emails: [{ address: 'ada@example.com', label: 'work' }],
          ownerUserId: editor,
        },
      });
      const [recorded] = await store.readStream(contactStream(org, written.id));
      expect(recorded.metadata).toEqual({
        organisationId: org,
        actorId: editor,
        actorType: 'user',
        requestId: 'req-1234567890',
        correlationId: 'req-1234567890',
        clientIp: '203.0.113.7',
      });
    });

    it('appends with no_stream at once, reading nothing: a new id has no stream', async () => {
      const written = await create({ firstName: 'Ada' });
      expect(written.version).toBe(0);
      expect(store.reads).toBe(0);
      expect(store.appends).toBe(1);
      expect(store.expected).toEqual(['no_stream']);
    });

    it('fails loudly, appending nothing, if a new id were already in use', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const error = await contacts
        .create(context, id, (contact, now) => ({
          events: decideContact(
            { type: 'CreateContact', contactId: id, fields: { firstName: 'Bob' } },
            contact.state,
            { actor: context.actor, role: 'editor', now },
          ),
          result: undefined,
        }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ProblemException);
      expect((error as Error).message).toMatch(/already in use/);
      expect(await history(id)).toHaveLength(1);
    });

    it('gives every contact its own id', async () => {
      const [a, b] = await Promise.all([create({ firstName: 'A' }), create({ firstName: 'B' })]);
      expect(a.id).not.toBe(b.id);
    });

    it('refuses an owner who is not an active member, naming the field', async () => {
      const error = await refusal([], () =>
        create({ firstName: 'Ada', ownerUserId: randomUUID() }),
      );
      expect(codeOf(error)).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        fields: ['ownerUserId'],
      });
      expect(store.appends).toBe(0);
    });

    it('refuses roles without contacts:write', async () => {
      for (const role of ['viewer', 'auditor'] as const) {
        const error = await refusal([], () => create({ firstName: 'Ada' }, role));
        expect(codeOf(error)).toEqual({ code: 'FORBIDDEN' });
      }
      expect(store.appends).toBe(0);
    });

    it('refuses a body naming no field', async () => {
      const error = await refusal([], () => create({}));
      expect(codeOf(error)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    });

    it('names the field the domain refuses (a mailbox twice)', async () => {
      const error = await refusal([], () =>
        create({ emails: [{ address: 'a@example.com' }, { address: 'A@example.com' }] }),
      );
      expect(codeOf(error)).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        fields: ['emails[1].address'],
      });
    });
  });

  describe('update', () => {
    it('records only the fields that change and answers the next version', async () => {
      const { id } = await create({ firstName: 'Ada', lastName: 'Byron' });
      const written = await update(id, 0, { firstName: 'Ada', lastName: 'Lovelace', tags: ['x'] });
      expect(written).toEqual({ id, version: 1 });
      expect((await history(id))[1]).toEqual({
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { lastName: 'Lovelace', tags: ['x'] },
      });
    });

    it('appends nothing when nothing changes, and answers the current version', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const appends = store.appends;
      expect(await update(id, 0, { firstName: 'Ada' })).toEqual({ id, version: 0 });
      expect(store.appends).toBe(appends);
    });

    it('answers 412 to a stale If-Match and appends nothing', async () => {
      const { id } = await create({ firstName: 'Ada' });
      await update(id, 0, { lastName: 'Lovelace' });
      const error = await refusal([id], () => update(id, 0, { lastName: 'Byron' }));
      expect(codeOf(error)).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED' });
    });

    it('answers 412 when another change lands between read and append, and does not retry', async () => {
      const { id } = await create({ firstName: 'Ada' });
      interfere(id, 1);
      const appends = store.appends;
      const error = await update(id, 0, { lastName: 'Lovelace' }).catch((e: unknown) => e);
      expect(codeOf(error)).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED' });
      expect(store.appends).toBe(appends + 1);
      // Only the other writer's change is in the log.
      expect((await history(id)).map((e) => e.data)).not.toContainEqual({ lastName: 'Lovelace' });
      expect(await length(id)).toBe(2);
    });

    it('answers 404 for a contact that does not exist, whatever the version', async () => {
      const error = await refusal([], () => update(randomUUID(), 0, { firstName: 'Ada' }));
      expect(codeOf(error)).toEqual({ code: 'NOT_FOUND' });
    });

    it('refuses a change of owner to a non-member, but keeps a departed owner on other edits', async () => {
      const departing = randomUUID();
      owners.active.add(departing);
      const { id } = await create({ firstName: 'Ada', ownerUserId: departing });
      owners.active.delete(departing);
      const error = await refusal([id], () => update(id, 0, { ownerUserId: randomUUID() }));
      expect(codeOf(error)).toMatchObject({ status: 400, fields: ['ownerUserId'] });
      expect(await update(id, 0, { firstName: 'Augusta', ownerUserId: departing })).toEqual({
        id,
        version: 1,
      });
    });

    it('refuses a viewer and an archived contact', async () => {
      const { id } = await create({ firstName: 'Ada' });
      expect(codeOf(await refusal([id], () => update(id, 0, { lastName: 'L' }, 'viewer')))).toEqual(
        { code: 'FORBIDDEN' },
      );
      await archive(id);
      expect(codeOf(await refusal([id], () => update(id, 1, { lastName: 'L' })))).toEqual({
        code: 'CONTACT_ARCHIVED',
      });
    });
  });

  describe('archive and unarchive', () => {
    it('archives once; archiving again records nothing and succeeds', async () => {
      const { id } = await create({ firstName: 'Ada' });
      expect(await archive(id)).toEqual({ id, version: 1 });
      expect(await archive(id)).toEqual({ id, version: 1 });
      expect((await history(id)).map((e) => e.type)).toEqual(['ContactCreated', 'ContactArchived']);
    });

    it('honours an If-Match when given', async () => {
      const { id } = await create({ firstName: 'Ada' });
      await update(id, 0, { lastName: 'L' });
      expect(codeOf(await refusal([id], () => archive(id, 0)))).toMatchObject({ status: 412 });
      expect(await archive(id, 1)).toEqual({ id, version: 2 });
    });

    it('retries on a concurrent change when no version was named', async () => {
      const { id } = await create({ firstName: 'Ada' });
      interfere(id, 2);
      expect(await archive(id)).toEqual({ id, version: 3 });
      expect((await history(id)).map((e) => e.type)).toEqual([
        'ContactCreated',
        'ContactUpdated',
        'ContactUpdated',
        'ContactArchived',
      ]);
    });

    it('gives up with 409 CONCURRENT_CHANGE when the contact keeps changing', async () => {
      const { id } = await create({ firstName: 'Ada' });
      interfere(id, Number.POSITIVE_INFINITY);
      const error = await archive(id).catch((e: unknown) => e);
      expect(codeOf(error)).toMatchObject({ status: 409, code: 'CONCURRENT_CHANGE' });
      expect((await history(id)).map((e) => e.type)).not.toContain('ContactArchived');
    });

    it('unarchives an archived contact; an active one stays as it is', async () => {
      const { id } = await create({ firstName: 'Ada' });
      expect(await unarchive(id)).toEqual({ id, version: 0 });
      await archive(id);
      expect(await unarchive(id)).toEqual({ id, version: 2 });
      expect((await history(id)).map((e) => e.type)).toEqual([
        'ContactCreated',
        'ContactArchived',
        'ContactUnarchived',
      ]);
    });

    it('answers 404 for an unknown contact', async () => {
      expect(codeOf(await refusal([], () => archive(randomUUID())))).toEqual({ code: 'NOT_FOUND' });
      expect(codeOf(await refusal([], () => unarchive(randomUUID())))).toEqual({
        code: 'NOT_FOUND',
      });
    });
  });

  describe('merge', () => {
    it('archives the source as merged and gives the target what it lacked, in one append', async () => {
      const target = await create({ firstName: 'Ada', emails: [{ address: 'ada@example.com' }] });
      const source = await create({
        firstName: 'A.',
        emails: [{ address: 'ADA@example.com' }, { address: 'ada@home.example' }],
        company: 'Engines',
      });
      const appends = store.appends;
      expect(await merge(target.id, source.id)).toEqual({ id: target.id, version: 1 });
      expect(store.appends).toBe(appends + 1);
      expect((await history(target.id))[1]).toEqual({
        type: 'ContactMergeReceived',
        schemaVersion: 1,
        data: {
          sourceId: source.id,
          takenOver: { emails: [{ address: 'ada@home.example' }], company: 'Engines' },
        },
      });
      expect((await history(source.id))[1]).toEqual({
        type: 'ContactMerged',
        schemaVersion: 1,
        data: { targetId: target.id },
      });
      // Repeating it records nothing.
      expect(await merge(target.id, source.id)).toEqual({ id: target.id, version: 1 });
      expect(await length(target.id)).toBe(2);
      // The merged source stays archived.
      expect(codeOf(await refusal([source.id], () => unarchive(source.id)))).toEqual({
        code: 'INVALID_STATE',
      });
    });

    it('refuses a merge into itself, naming sourceId', async () => {
      const { id } = await create({ firstName: 'Ada' });
      expect(codeOf(await refusal([id], () => merge(id, id)))).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        fields: ['sourceId'],
      });
    });

    it('refuses a merge into an archived contact, and a missing source or target', async () => {
      const target = await create({ firstName: 'Ada' });
      const source = await create({ firstName: 'Bea' });
      await archive(target.id);
      const ids = [target.id, source.id];
      expect(codeOf(await refusal(ids, () => merge(target.id, source.id)))).toEqual({
        code: 'CONTACT_ARCHIVED',
      });
      expect(codeOf(await refusal(ids, () => merge(source.id, randomUUID())))).toEqual({
        code: 'NOT_FOUND',
      });
      expect(codeOf(await refusal(ids, () => merge(randomUUID(), source.id)))).toEqual({
        code: 'NOT_FOUND',
      });
    });

    it('refuses a viewer, and a stale If-Match on the target', async () => {
      const target = await create({ firstName: 'Ada' });
      const source = await create({ firstName: 'Bea' });
      const ids = [target.id, source.id];
      expect(
        codeOf(await refusal(ids, () => merge(target.id, source.id, undefined, 'viewer'))),
      ).toEqual({ code: 'FORBIDDEN' });
      await update(target.id, 0, { lastName: 'L' });
      expect(codeOf(await refusal(ids, () => merge(target.id, source.id, 0)))).toMatchObject({
        status: 412,
      });
      expect(await merge(target.id, source.id, 1)).toEqual({ id: target.id, version: 2 });
    });

    it('decides again when the source changes in between, appending both halves together', async () => {
      const target = await create({ firstName: 'Ada' });
      const source = await create({ firstName: 'Bea' });
      interfere(source.id, 1);
      expect(await merge(target.id, source.id)).toEqual({ id: target.id, version: 1 });
      expect((await history(source.id)).map((e) => e.type)).toEqual([
        'ContactCreated',
        'ContactUpdated',
        'ContactMerged',
      ]);
      // The target took the notes the other writer gave the source: decided on the new state.
      const received = (await history(target.id))[1];
      expect(received.type).toBe('ContactMergeReceived');
      expect(received.data).toMatchObject({ takenOver: { notes: expect.any(String) } });
    });
  });

  describe('interactions', () => {
    it('logs one with its own id and the contact’s next version', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const written = await log(id, {
        type: 'call',
        occurredAt: '2025-03-14T10:30:00+01:00',
        direction: 'outbound',
        durationSeconds: 300,
      });
      expect(written).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), version: 1 });
      expect((await history(id))[1]).toEqual({
        type: 'InteractionLogged',
        schemaVersion: 1,
        data: {
          interactionId: written.id,
          type: 'call',
          occurredAt: '2025-03-14T09:30:00.000Z',
          subject: null,
          body: null,
          direction: 'outbound',
          durationSeconds: 300,
          dueAt: null,
          completed: null,
        },
      });
    });

    it('refuses one on an archived contact (409), for a viewer, and on an unknown contact', async () => {
      const { id } = await create({ firstName: 'Ada' });
      expect(codeOf(await refusal([id], () => log(id, { type: 'note' }, 'viewer')))).toEqual({
        code: 'FORBIDDEN',
      });
      await archive(id);
      expect(codeOf(await refusal([id], () => log(id, { type: 'note' })))).toEqual({
        code: 'CONTACT_ARCHIVED',
      });
      expect(codeOf(await refusal([], () => log(randomUUID(), { type: 'note' })))).toEqual({
        code: 'NOT_FOUND',
      });
    });

    it('names the field of an interaction the domain refuses', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const error = await refusal([id], () =>
        log(id, { type: 'call', dueAt: '2025-03-14T09:30:00Z' }),
      );
      expect(codeOf(error)).toEqual({ status: 400, code: 'VALIDATION_FAILED', fields: ['dueAt'] });
    });

    it('updates one under If-Match; stale answers 412; an unknown one 404', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const logged = await log(id, { type: 'task', subject: 'Send the proposal' });
      expect(await updateInteraction(id, logged.id, 1, { completed: true })).toEqual({
        id: logged.id,
        version: 2,
      });
      expect((await history(id))[2]).toEqual({
        type: 'InteractionUpdated',
        schemaVersion: 1,
        data: { interactionId: logged.id, completed: true },
      });
      expect(
        codeOf(await refusal([id], () => updateInteraction(id, logged.id, 1, { subject: 'x' }))),
      ).toMatchObject({ status: 412 });
      expect(
        codeOf(await refusal([id], () => updateInteraction(id, randomUUID(), 2, { subject: 'x' }))),
      ).toEqual({ code: 'NOT_FOUND' });
      expect(codeOf(await refusal([id], () => updateInteraction(id, logged.id, 2, {})))).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        fields: [],
      });
    });

    it('removes one for good: a second removal and an update answer 404', async () => {
      const { id } = await create({ firstName: 'Ada' });
      const logged = await log(id, { type: 'note', body: 'Likes engines' });
      expect(await remove(id, logged.id)).toEqual({ id: logged.id, version: 2 });
      expect((await history(id))[2]).toEqual({
        type: 'InteractionRemoved',
        schemaVersion: 1,
        data: { interactionId: logged.id },
      });
      expect(codeOf(await refusal([id], () => remove(id, logged.id)))).toEqual({
        code: 'NOT_FOUND',
      });
      expect(
        codeOf(await refusal([id], () => updateInteraction(id, logged.id, 2, { body: 'x' }))),
      ).toEqual({ code: 'NOT_FOUND' });
    });
  });
});
