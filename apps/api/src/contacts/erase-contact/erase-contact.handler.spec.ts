import { randomBytes, randomUUID } from 'node:crypto';
import { InMemoryKeyStore, Keyring, LocalMasterKeyProvider } from '@beecastle/crypto';
import type { DomainError, Role } from '@beecastle/domain';
import { InMemoryEventStore, type EventStore, type RecordedEvent } from '@beecastle/event-store';
import { encryptEventStore } from '@beecastle/read-model';
import { ProblemException } from '../../http/problem.exception';
import type { CommandContext } from '../../organisations/command-context';
import { ContactOwners } from '../contact-owners';
import { contactStream, ContactRepository } from '../contact.repository';
import { CreateContactCommand } from '../create-contact/create-contact.command';
import { CreateContactHandler } from '../create-contact/create-contact.handler';
import { LogInteractionCommand } from '../log-interaction/log-interaction.command';
import { LogInteractionHandler } from '../log-interaction/log-interaction.handler';
import { EraseContactCommand } from './erase-contact.command';
import { EraseContactHandler } from './erase-contact.handler';

class NoOwners extends ContactOwners {
  isActiveMember(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

describe('EraseContactHandler (encrypted in-memory log)', () => {
  const org = randomUUID();
  const context: CommandContext = {
    organisationId: org,
    actor: { type: 'user', id: randomUUID() },
    requestId: 'req-erase-1',
  };
  let raw: InMemoryEventStore;
  let keyring: Keyring;
  let store: EventStore;
  let contacts: ContactRepository;
  let destroyFails: boolean;

  beforeEach(() => {
    raw = new InMemoryEventStore();
    keyring = new Keyring(
      new InMemoryKeyStore(),
      new LocalMasterKeyProvider(randomBytes(32), 'test'),
    );
    store = encryptEventStore(raw, keyring);
    contacts = new ContactRepository(store);
    destroyFails = false;
  });

  const erase = (id: string, role: Role = 'admin', ifMatch?: number) =>
    new EraseContactHandler(contacts, {
      destroy: async (organisationId, subjectId) => {
        if (destroyFails) throw new Error('the key store is unreachable');
        await keyring.destroy(organisationId, subjectId);
      },
    }).execute(new EraseContactCommand(context, role, id, ifMatch));

  const created = async () => {
    const { id } = await new CreateContactHandler(contacts, new NoOwners()).execute(
      new CreateContactCommand(context, 'editor', { firstName: 'Ada', notes: 'secret' }),
    );
    await new LogInteractionHandler(contacts).execute(
      new LogInteractionCommand(context, 'editor', id, undefined, { type: 'note', body: 'hi' }),
    );
    return id;
  };
  const stream = (id: string): Promise<RecordedEvent[]> =>
    store.readStream(contactStream(org, id)).catch(() => []);
  const shape = async (id: string) =>
    (await stream(id)).map((e) => [e.type, e.erased === true] as const);

  it('appends ContactErased, then destroys the key: earlier payloads read as erased for good', async () => {
    const id = await created();
    await erase(id);
    expect(await shape(id)).toEqual([
      ['ContactCreated', true],
      ['InteractionLogged', true],
      ['ContactErased', false],
    ]);
    const [erasure] = (await stream(id)).slice(-1);
    expect(erasure.metadata).toMatchObject({ actorId: context.actor.id, requestId: 'req-erase-1' });
    expect((await contacts.load(org, id)).state).toEqual({ status: 'none', erased: true });
    // Even a fresh keyring over the same key store opens nothing of it.
    const raws = await raw.readStream(contactStream(org, id));
    expect(raws.map((e) => e.metadata.keyId)).toEqual([`${id}:1`, `${id}:1`, `${org}:1`]);
    const read = await keyring.keysForReading(org, [`${id}:1`]);
    expect(read.get(`${id}:1`)).toBe('destroyed');
  });

  it('answers an erased contact again without appending, and destroys the key if a retry must', async () => {
    const id = await created();
    destroyFails = true;
    await expect(erase(id)).rejects.toThrow('unreachable');
    // Recorded, but not yet shredded: the retry finishes the job and records nothing more.
    expect(await shape(id)).toEqual([
      ['ContactCreated', false],
      ['InteractionLogged', false],
      ['ContactErased', false],
    ]);
    destroyFails = false;
    await erase(id);
    await erase(id);
    expect(await shape(id)).toEqual([
      ['ContactCreated', true],
      ['InteractionLogged', true],
      ['ContactErased', false],
    ]);
  });

  it('refuses editors and below, an unknown contact and a stale If-Match, changing nothing', async () => {
    const id = await created();
    const codeOf = (error: unknown) =>
      error instanceof ProblemException ? error.status : (error as DomainError).code;
    for (const role of ['editor', 'viewer', 'auditor'] as const) {
      expect(codeOf(await erase(id, role).catch((e: unknown) => e))).toBe('FORBIDDEN');
    }
    expect(codeOf(await erase(id, 'admin', 0).catch((e: unknown) => e))).toBe(412);
    const unknown = randomUUID();
    expect(codeOf(await erase(unknown).catch((e: unknown) => e))).toBe('NOT_FOUND');

    expect(await shape(id)).toEqual([
      ['ContactCreated', false],
      ['InteractionLogged', false],
    ]);
    // No tombstone for the unknown id either: its key was never touched.
    await expect(keyring.keysForWriting(org, [unknown])).resolves.toBeDefined();
  });

  it('refuses any later change to the contact as not found', async () => {
    const id = await created();
    await erase(id, 'owner', 1);
    const error = await new LogInteractionHandler(contacts)
      .execute(new LogInteractionCommand(context, 'editor', id, undefined, { type: 'note' }))
      .catch((e: unknown) => e);
    expect((error as DomainError).code).toBe('NOT_FOUND');
    expect(await stream(id)).toHaveLength(3);
  });
});
