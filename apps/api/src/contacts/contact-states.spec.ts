import { randomUUID } from 'node:crypto';
import { foldContact, type ContactEvent, type ContactState } from '@beecastle/domain';
import {
  InMemoryEventStore,
  type ReadStreamOptions,
  type RecordedEvent,
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
import { UpdateContactCommand } from './update-contact/update-contact.command';
import { UpdateContactHandler } from './update-contact/update-contact.handler';

const created = (contactId: string, interactions = 0): ContactState => {
  const events: ContactEvent[] = [
    {
      type: 'ContactCreated',
      schemaVersion: 1,
      data: { contactId, firstName: 'Ada' },
    } as ContactEvent,
  ];
  for (let i = 0; i < interactions; i += 1) {
    events.push({
      type: 'InteractionLogged',
      schemaVersion: 1,
      data: { interactionId: randomUUID(), type: 'note', body: `note ${i}` },
    } as ContactEvent);
  }
  return foldContact(events);
};

describe('ContactStates', () => {
  it('keeps the newest revision whatever order two writes finish in', () => {
    const states = new ContactStates();
    states.remember('s', 2n, created('a'));
    states.remember('s', 1n, created('b'));
    expect(states.get('s')?.revision).toBe(2n);
    states.remember('s', 3n, created('c'));
    expect(states.get('s')?.revision).toBe(3n);
  });

  it('keeps nothing of an erased contact, and forgets what it had', () => {
    const states = new ContactStates();
    states.remember('s', 0n, created('a'));
    states.remember('s', 1n, { status: 'none', erased: true });
    expect(states.get('s')).toBeUndefined();
    expect(states.size).toBe(0);
  });

  it('drops the least recently written beyond its weight, a contact weighing its interactions', () => {
    const states = new ContactStates({ maxWeight: 10 });
    states.remember('a', 0n, created('a', 3)); // 4
    states.remember('b', 0n, created('b', 3)); // 8
    states.remember('a', 1n, created('a', 3)); // a is now the most recently written
    states.remember('c', 0n, created('c', 2)); // 11: b goes
    expect(states.get('b')).toBeUndefined();
    expect(states.get('a')?.revision).toBe(1n);
    expect(states.get('c')).toBeDefined();
    // One heavier than the whole bound is not kept, and evicts nothing.
    states.remember('d', 0n, created('d', 10));
    expect([states.get('d'), states.size]).toEqual([undefined, 2]);
  });

  it('at a bound of 0 keeps nothing, and says so (the repository then decodes nothing for it)', () => {
    const states = new ContactStates({ maxWeight: 0 });
    states.remember('a', 0n, created('a', 0));
    expect([states.keepsAny, states.size, states.get('a')]).toEqual([false, 0, undefined]);
    expect(new ContactStates().keepsAny).toBe(true);
  });

  it('forgets a state after its time to live', () => {
    let now = 1_000;
    const states = new ContactStates({ ttlMs: 100, now: () => now });
    states.remember('s', 0n, created('a'));
    now += 100;
    expect(states.get('s')).toBeDefined();
    now += 1;
    expect(states.get('s')).toBeUndefined();
    expect(states.size).toBe(0);
  });

  it('drops a state nobody asks for again once its time is up, by its own timer', () => {
    jest.useFakeTimers();
    try {
      const states = new ContactStates({ ttlMs: 60_000 });
      states.remember('a', 0n, created('a'));
      jest.advanceTimersByTime(30_000);
      states.remember('b', 0n, created('b'));
      jest.advanceTimersByTime(30_001);
      expect(states.size).toBe(1); // a's time is up, b's is not
      jest.advanceTimersByTime(30_000);
      expect(states.size).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

/** The in-memory log, counting stream reads. */
class CountingStore extends InMemoryEventStore {
  reads = 0;
  override readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.reads += 1;
    return super.readStream(stream, options);
  }
}

class AnyoneOwns extends ContactOwners {
  isActiveMember(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

describe('ContactRepository with remembered states', () => {
  const org = randomUUID();
  const context: CommandContext = {
    organisationId: org,
    actor: { type: 'user', id: randomUUID() },
    requestId: 'req-1234567890',
    clientIp: '203.0.113.7',
  };
  let store: CountingStore;
  let contacts: ContactRepository;
  const owners = new AnyoneOwns();

  beforeEach(() => {
    store = new CountingStore();
    contacts = new ContactRepository(store, new ContactStates());
  });

  const create = () =>
    new CreateContactHandler(contacts, owners).execute(
      new CreateContactCommand(context, 'editor', { firstName: 'Ada' }),
    );
  const update = (id: string, ifMatch: number, changes: UpdateContactCommand['changes']) =>
    new UpdateContactHandler(contacts, owners).execute(
      new UpdateContactCommand(context, 'editor', id, ifMatch, changes),
    );
  const archive = (id: string) =>
    new ArchiveContactHandler(contacts).execute(
      new ArchiveContactCommand(context, 'editor', id, undefined),
    );
  const logNote = (id: string) =>
    new LogInteractionHandler(contacts).execute(
      new LogInteractionCommand(context, 'editor', id, undefined, { type: 'note', body: 'Hi' }),
    );
  const history = async (id: string) =>
    (await store.readStream(contactStream(org, id))).map(decodeContactEvent);
  /** What another process writes, straight to the log: this one does not hear of it. */
  const elsewhere = async (id: string, event: ContactEvent) => {
    const [last] = await store.readStream(contactStream(org, id), {
      direction: 'backwards',
      maxCount: 1,
    });
    await store.appendToStream(
      contactStream(org, id),
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
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: unknown) =>
        error instanceof ProblemException
          ? { status: error.status, code: error.code }
          : { code: (error as { code?: string }).code },
    );

  it('decides a change to a contact it wrote without reading the stream', async () => {
    const { id } = await create();
    expect(await update(id, 0, { lastName: 'Lovelace' })).toEqual({ id, version: 1 });
    expect(await logNote(id)).toMatchObject({ version: 2 });
    expect(await update(id, 2, { lastName: 'Byron', tags: ['vip'] })).toEqual({ id, version: 3 });
    expect(store.reads).toBe(0);
    // Only the fields that changed, as when the stream is read.
    expect((await history(id))[3].data).toEqual({ lastName: 'Byron', tags: ['vip'] });
  });

  it('answers 412 to its own ETag once another process has written, appending nothing', async () => {
    const { id } = await create();
    await elsewhere(id, { type: 'ContactUpdated', schemaVersion: 1, data: { notes: 'x' } });
    expect(await failure(update(id, 0, { lastName: 'Lovelace' }))).toEqual({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    expect(await history(id)).toHaveLength(2);
  });

  it('without If-Match, decides on the log when another process archived the contact', async () => {
    const { id } = await create();
    await elsewhere(id, { type: 'ContactArchived', schemaVersion: 1, data: {} });
    // Remembered as active, where the note would be taken: the log says archived.
    expect(await failure(logNote(id))).toEqual({ code: 'CONTACT_ARCHIVED' });
    expect((await history(id)).map((e) => e.type)).toEqual(['ContactCreated', 'ContactArchived']);
  });

  it('decides a refusal again from the log: unarchived elsewhere, the note is taken', async () => {
    const { id } = await create();
    await archive(id);
    await elsewhere(id, { type: 'ContactUnarchived', schemaVersion: 1, data: {} });
    expect(await logNote(id)).toMatchObject({ version: 3 });
    expect((await history(id)).map((e) => e.type)).toEqual([
      'ContactCreated',
      'ContactArchived',
      'ContactUnarchived',
      'InteractionLogged',
    ]);
  });

  it('decides "nothing changes" again from the log, where the version has moved', async () => {
    const { id } = await create();
    await elsewhere(id, { type: 'ContactUpdated', schemaVersion: 1, data: { lastName: 'B' } });
    // Remembered, firstName is already Ada: that would answer version 0 without a look.
    expect(await failure(update(id, 0, { firstName: 'Ada' }))).toEqual({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
  });

  it('answers 404 for a contact erased elsewhere, as the log does, and appends nothing', async () => {
    const { id } = await create();
    await elsewhere(id, { type: 'ContactErased', schemaVersion: 1, data: {} });
    expect(await failure(update(id, 0, { lastName: 'Lovelace' }))).toEqual({ code: 'NOT_FOUND' });
    expect(await history(id)).toHaveLength(2);
  });
});
