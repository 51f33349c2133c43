import { randomUUID } from 'node:crypto';
import { DomainError, type ContactInput, type Role } from '@beecastle/domain';
import {
  InMemoryEventStore,
  type AppendResult,
  type RecordedEvent,
  type StreamAppend,
} from '@beecastle/event-store';
import { decodeContactEvent } from '@beecastle/read-model';
import type { CommandContext } from '../../organisations/command-context';
import { ContactOwners } from '../contact-owners';
import { contactStream } from '../contact.repository';
import { ContactImportInterruptedError, ContactImportRefusedError } from './contact-import.errors';
import { ImportContactsCommand } from './import-contacts.command';
import {
  IMPORT_APPENDS_IN_FLIGHT,
  IMPORT_BATCH_STREAMS,
  ImportContactsHandler,
} from './import-contacts.handler';

/** The in-memory log, recording each multi-stream append's size; it can fail the nth. */
class ObservedStore extends InMemoryEventStore {
  readonly batches: number[] = [];
  failAt?: number;
  /** Answers a macrotask later, as a database would, counting the appends under way. */
  slow = false;
  private active = 0;
  mostAtOnce = 0;
  override async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.batches.push(appends.length);
    if (this.batches.length === this.failAt) throw new Error('the log is down');
    this.active += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.active);
    try {
      if (this.slow) await new Promise((resolve) => setTimeout(resolve, 5));
      return await super.appendToStreams(appends);
    } finally {
      this.active -= 1;
    }
  }
}

/** Members as the access read model would list them; counts the lookups. */
class KnownOwners extends ContactOwners {
  readonly active = new Set<string>();
  lookups = 0;
  isActiveMember(_organisationId: string, userId: string): Promise<boolean> {
    this.lookups += 1;
    return Promise.resolve(this.active.has(userId));
  }
}

describe('ImportContactsHandler (in-memory log)', () => {
  const org = randomUUID();
  const member = randomUUID();
  const context: CommandContext = {
    organisationId: org,
    actor: { type: 'user', id: member },
    requestId: 'req-import-1',
    correlationId: 'import-1',
  };
  let store: ObservedStore;
  let owners: KnownOwners;

  beforeEach(() => {
    store = new ObservedStore();
    owners = new KnownOwners();
    owners.active.add(member);
  });

  const importAs = (
    role: Role | undefined,
    contacts: readonly ContactInput[],
    as: CommandContext = context,
  ) =>
    new ImportContactsHandler(store, owners).execute(new ImportContactsCommand(as, role, contacts));
  const logged = (): Promise<RecordedEvent[]> => store.readAll();

  /** Asserts the import was refused and the log did not change; answers the error. */
  const refused = async (promise: Promise<unknown>): Promise<unknown> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    expect(await logged()).toEqual([]);
    expect(store.batches).toEqual([]);
    return error;
  };

  it('creates one stream per contact, each with the event a single create records', async () => {
    const contacts: ContactInput[] = [
      { firstName: 'Ada', lastName: 'Lovelace', tags: ['maths'] },
      { company: 'Analytical Engines', ownerUserId: member },
      { emails: [{ address: 'grace@example.com', label: 'work' }] },
    ];

    const { ids } = await importAs('editor', contacts);

    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    for (const [i, id] of ids.entries()) {
      const recorded = await store.readStream(contactStream(org, id));
      expect(recorded.map((e) => e.revision)).toEqual([0n]);
      expect(decodeContactEvent(recorded[0])).toMatchObject({
        type: 'ContactCreated',
        data: { contactId: id, ...contacts[i] },
      });
      expect(recorded[0].metadata).toEqual({
        organisationId: org,
        actorId: member,
        actorType: 'user',
        requestId: 'req-import-1',
        correlationId: 'import-1',
      });
    }
    // One atomic append, in the order given.
    expect(store.batches).toEqual([3]);
    expect((await logged()).map((e) => e.streamId)).toEqual(
      ids.map((id) => contactStream(org, id)),
    );
  });

  it(`appends in batches of at most ${IMPORT_BATCH_STREAMS} new streams`, async () => {
    const count = IMPORT_BATCH_STREAMS * 2 + 1;
    const contacts = Array.from({ length: count }, (_, i) => ({ firstName: `N${i}` }));

    const { ids } = await importAs('editor', contacts);

    expect(store.batches).toEqual([IMPORT_BATCH_STREAMS, IMPORT_BATCH_STREAMS, 1]);
    const all = await logged();
    expect(all.map((e) => e.streamId)).toEqual(ids.map((id) => contactStream(org, id)));
    expect(all.map((e) => e.revision)).toEqual(ids.map(() => 0n));
  });

  it(`keeps ${IMPORT_APPENDS_IN_FLIGHT} batches in flight, never more`, async () => {
    store.slow = true;
    const contacts = Array.from({ length: IMPORT_BATCH_STREAMS * 4 }, (_, i) => ({
      firstName: `N${i}`,
    }));

    const { ids } = await importAs('editor', contacts);

    expect(store.mostAtOnce).toBe(IMPORT_APPENDS_IN_FLIGHT);
    expect(new Set((await logged()).map((e) => e.streamId))).toEqual(
      new Set(ids.map((id) => contactStream(org, id))),
    );
  });

  it('lets the system import without a role', async () => {
    const { ids } = await importAs(undefined, [{ firstName: 'Sys' }], {
      organisationId: org,
      actor: { type: 'system', id: 'cli:contacts:import' },
    });
    expect(ids).toHaveLength(1);
    expect((await logged())[0].metadata).toMatchObject({ actorType: 'system' });
  });

  it.each<[string, Role | undefined]>([
    ['a viewer', 'viewer'],
    ['an auditor', 'auditor'],
    ['a user without a role', undefined],
  ])('refuses %s as a whole, appending nothing', async (_who, role) => {
    const error = await refused(importAs(role, [{ firstName: 'A' }, { firstName: 'B' }]));
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('FORBIDDEN');
    expect(error).not.toBeInstanceOf(ContactImportRefusedError);
  });

  it('refuses an invalid contact by its position and field, appending none of the others', async () => {
    const error = await refused(
      importAs('editor', [
        { firstName: 'Fine' },
        { firstName: 'Also fine' },
        { emails: [{ address: 'not an email' }] },
        { firstName: 'Never reached' },
      ]),
    );
    expect(error).toBeInstanceOf(ContactImportRefusedError);
    expect(error).toMatchObject({
      index: 2,
      code: 'VALIDATION_FAILED',
      fields: ['emails[0].address'],
    });
  });

  it('refuses a contact that names no field', async () => {
    const error = await refused(importAs('editor', [{ firstName: 'A' }, {}]));
    expect(error).toMatchObject({ index: 1, code: 'VALIDATION_FAILED', fields: [] });
  });

  it('refuses an owner who is not an active member, at the first contact naming them', async () => {
    const stranger = randomUUID();
    const error = await refused(
      importAs('editor', [
        { firstName: 'A', ownerUserId: member },
        { firstName: 'B', ownerUserId: stranger },
        { firstName: 'C', ownerUserId: stranger },
      ]),
    );
    expect(error).toBeInstanceOf(ContactImportRefusedError);
    expect(error).toMatchObject({ index: 1, code: 'VALIDATION_FAILED', fields: ['ownerUserId'] });
  });

  it('checks each owner once, however many contacts name them', async () => {
    const other = randomUUID();
    owners.active.add(other);
    const contacts = Array.from({ length: 50 }, (_, i) => ({
      firstName: `N${i}`,
      ownerUserId: i % 2 ? member : other,
    }));

    await importAs('editor', contacts);

    expect(owners.lookups).toBe(2);
    expect(await logged()).toHaveLength(50);
  });

  it('names the contacts already appended when the log fails after the first batch', async () => {
    store.failAt = 2;
    const contacts = Array.from({ length: IMPORT_BATCH_STREAMS + 10 }, (_, i) => ({
      firstName: `N${i}`,
    }));

    const error = await importAs('editor', contacts).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ContactImportInterruptedError);
    const { importedIds } = error as ContactImportInterruptedError;
    expect(importedIds).toHaveLength(IMPORT_BATCH_STREAMS);
    expect((await logged()).map((e) => e.streamId)).toEqual(
      importedIds.map((id) => contactStream(org, id)),
    );
  });

  it('names the contacts appended when the batch in flight beside them fails', async () => {
    store.failAt = 1;
    const contacts = Array.from({ length: IMPORT_BATCH_STREAMS + 3 }, (_, i) => ({
      firstName: `N${i}`,
    }));

    const error = await importAs('editor', contacts).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ContactImportInterruptedError);
    const { importedIds } = error as ContactImportInterruptedError;
    expect(importedIds).toHaveLength(3);
    expect((await logged()).map((e) => e.streamId)).toEqual(
      importedIds.map((id) => contactStream(org, id)),
    );
  });

  it('passes a failure of the first batch on as it is: nothing was appended', async () => {
    store.failAt = 1;
    const error = await importAs('editor', [{ firstName: 'A' }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toEqual(new Error('the log is down'));
    expect(await logged()).toEqual([]);
  });
});
