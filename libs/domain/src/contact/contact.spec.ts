import type { Role } from '../access/permissions';
import type { Actor } from '../shared/actor';
import { DomainError, type DomainErrorCode } from '../shared/domain-error';
import {
  type ContactCommand,
  type ContactDecisionContext,
  type ContactInput,
  type ContactState,
  decideContact,
  decideMerge,
  EMPTY_CONTACT_FIELDS,
  evolveContact,
  foldContact,
  initialContactState,
  type InteractionInput,
  type MergeContacts,
} from './contact';
import type { ContactEvent, ContactFields, InteractionChanges } from './contact.events';
import { CONTACT_LIMITS, ContactValidationError } from './contact.validation';

const ID = '7d1e2c3b-4a5f-4e6d-8c7b-9a0f1e2d3c4b';
const OTHER = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const THIRD = '9f8e7d6c-5b4a-4392-8172-6a5b4c3d2e1f';
const user: Actor = { type: 'user', id: 'u-editor' };
const system: Actor = { type: 'system', id: 'cli' };
const now = new Date('2026-11-25T10:00:00.000Z');
const asEditor: ContactDecisionContext = { actor: user, role: 'editor', now };
const as = (role: Role | undefined, actor: Actor = user): ContactDecisionContext => ({
  actor,
  role,
  now,
});

const ada: ContactFields = {
  firstName: 'Ada',
  lastName: 'Lovelace',
  emails: [{ address: 'ada@example.com', label: 'work' }, { address: 'ada@home.example' }],
  phones: [{ number: '+441234567890', label: 'mobile' }],
  company: 'Analytical Engines',
  jobTitle: 'Programmer',
  address: {
    line1: '12 St James’s Square',
    line2: null,
    city: 'London',
    region: null,
    postalCode: 'SW1Y 4JH',
    country: 'GB',
  },
  tags: ['vip', 'math'],
  notes: 'Met at the Society.\nFollow up on notes G.',
  ownerUserId: 'u-owner',
};

const created = (fields: Partial<ContactFields> = ada, contactId = ID): ContactEvent => ({
  type: 'ContactCreated',
  schemaVersion: 1,
  data: { contactId, ...EMPTY_CONTACT_FIELDS, ...fields },
});
const updated = (data: Partial<ContactFields>): ContactEvent => ({
  type: 'ContactUpdated',
  schemaVersion: 1,
  data,
});
const archived: ContactEvent = { type: 'ContactArchived', schemaVersion: 1, data: {} };
const unarchived: ContactEvent = { type: 'ContactUnarchived', schemaVersion: 1, data: {} };
const mergedInto = (targetId: string): ContactEvent => ({
  type: 'ContactMerged',
  schemaVersion: 1,
  data: { targetId },
});
const call = {
  type: 'call',
  occurredAt: '2026-11-20T09:30:00.000Z',
  subject: 'Intro call',
  body: 'Talked about the engine.',
  direction: 'outbound',
  durationSeconds: 600,
  dueAt: null,
  completed: null,
} as const;
const logged = (interactionId = 'i-1', fields: object = call): ContactEvent =>
  ({
    type: 'InteractionLogged',
    schemaVersion: 1,
    data: { interactionId, ...fields },
  }) as ContactEvent;
const removed = (interactionId = 'i-1'): ContactEvent => ({
  type: 'InteractionRemoved',
  schemaVersion: 1,
  data: { interactionId },
});

const create = (fields: ContactInput = ada, contactId = ID): ContactCommand => ({
  type: 'CreateContact',
  contactId,
  fields,
});
const update = (changes: ContactInput): ContactCommand => ({ type: 'UpdateContact', changes });
const log = (interaction: InteractionInput, interactionId = 'i-2'): ContactCommand => ({
  type: 'LogInteraction',
  interactionId,
  interaction,
});
const updateInteraction = (
  changes: Extract<ContactCommand, { type: 'UpdateInteraction' }>['changes'],
  interactionId = 'i-1',
): ContactCommand => ({ type: 'UpdateInteraction', interactionId, changes });

function refusal(decide: () => unknown): DomainError {
  try {
    decide();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a refusal, got a decision');
}

/** given(history).when(command, context) → the events decided, or the refusal's code (and field). */
function given(history: readonly ContactEvent[]) {
  const state = foldContact(history);
  return {
    when(command: ContactCommand, context: ContactDecisionContext = asEditor) {
      const decide = () => decideContact(command, state, context);
      return {
        then: (expected: ContactEvent[]) => expect(decide()).toEqual(expected),
        thenRefused: (code: DomainErrorCode, field?: string) => {
          const error = refusal(decide);
          expect(error.code).toBe(code);
          if (field !== undefined) {
            expect(error).toBeInstanceOf(ContactValidationError);
            expect((error as ContactValidationError).field).toBe(field);
          }
        },
      };
    },
  };
}

const active = (state: ContactState) => {
  if (state.status === 'none') throw new Error('expected a contact');
  return state;
};

describe('contact', () => {
  describe('creation', () => {
    it('records every field given', () =>
      given([])
        .when(create())
        .then([created(ada)]));

    it('fills the fields not given with null or an empty list', () =>
      given([])
        .when(create({ firstName: 'Grace' }))
        .then([created({ firstName: 'Grace' })]));

    it('drops a null label and reads an address with no part set as none', () =>
      given([])
        .when(
          create({
            emails: [{ address: 'g@example.com', label: null as unknown as string }],
            address: {
              line1: null,
              line2: null,
              city: null,
              region: null,
              postalCode: null,
              country: null,
            },
          }),
        )
        .then([created({ emails: [{ address: 'g@example.com' }] })]));

    it.each(['owner', 'admin', 'editor'] as const)('is allowed to an %s', (role) =>
      given([]).when(create(), as(role)).then([created()]),
    );

    it.each(['viewer', 'auditor'] as const)('is refused to a %s', (role) =>
      given([]).when(create(), as(role)).thenRefused('FORBIDDEN'),
    );

    it('is refused to an actor with no role in the organisation', () =>
      given([]).when(create(), as(undefined)).thenRefused('FORBIDDEN'));

    it('is allowed to an API key acting as an editor', () =>
      given([])
        .when(create(), as('editor', { type: 'api_key', id: 'k-1' }))
        .then([created()]));

    it('is allowed to the system (seeding, restore) without a role', () =>
      given([]).when(create(), as(undefined, system)).then([created()]));

    it('refuses a second creation with ALREADY_EXISTS', () =>
      given([created()]).when(create()).thenRefused('ALREADY_EXISTS'));

    it('checks permission before existence, so a refused role learns nothing', () =>
      given([created()]).when(create(), as('viewer')).thenRefused('FORBIDDEN'));

    it('refuses an id that cannot name a stream', () =>
      given([]).when(create(ada, 'not/an id')).thenRefused('VALIDATION_FAILED', 'id'));
  });

  describe('field limits (a second line of defence behind the DTOs)', () => {
    const refuses = (fields: ContactInput, field: string) =>
      given([]).when(create(fields)).thenRefused('VALIDATION_FAILED', field);
    const accepts = (fields: ContactInput) =>
      expect(decideContact(create(fields), initialContactState, asEditor)).toHaveLength(1);

    it('takes names up to 200 characters', () => {
      accepts({ firstName: 'x'.repeat(200), lastName: 'y'.repeat(200) });
      refuses({ firstName: 'x'.repeat(201) }, 'firstName');
      refuses({ lastName: 'y'.repeat(201) }, 'lastName');
    });

    it('counts characters, not UTF-16 units', () => accepts({ firstName: '𝔄'.repeat(200) }));

    it('refuses an empty string (null clears a field)', () => refuses({ company: '' }, 'company'));

    it('refuses surrounding spaces in one-line fields', () => {
      refuses({ firstName: ' Ada' }, 'firstName');
      refuses({ jobTitle: 'CTO ' }, 'jobTitle');
    });

    it('refuses line breaks and control characters in one-line fields', () => {
      refuses({ lastName: 'Love\nlace' }, 'lastName');
      refuses({ company: 'A\u0000B' }, 'company');
    });

    it('refuses a lone surrogate, which neither JSON nor PostgreSQL text can hold', () =>
      refuses({ firstName: 'A\uD800B' }, 'firstName'));

    it('keeps line breaks and tabs in notes, but no NUL', () => {
      accepts({ notes: 'line 1\r\n\tline 2' });
      refuses({ notes: 'a\u0000b' }, 'notes');
    });

    it('takes notes up to 20,000 characters', () => {
      accepts({ notes: 'n'.repeat(CONTACT_LIMITS.notesLength) });
      refuses({ notes: 'n'.repeat(CONTACT_LIMITS.notesLength + 1) }, 'notes');
    });

    it('takes up to 20 emails', () => {
      const list = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ address: `a${i}@example.com` }));
      accepts({ emails: list(20) });
      refuses({ emails: list(21) }, 'emails');
    });

    it('refuses an email that is not normalised or not an address', () => {
      for (const address of ['ada@Example.com', 'ada', 'a b@example.com', '', 'a@b@c']) {
        refuses({ emails: [{ address }] }, 'emails[0].address');
      }
    });

    it('keeps the case of an email’s local part', () =>
      accepts({ emails: [{ address: 'Ada.Lovelace@example.com' }] }));

    it('refuses the same mailbox twice, whatever the case', () =>
      refuses(
        { emails: [{ address: 'ada@example.com' }, { address: 'ADA@example.com' }] },
        'emails[1].address',
      ));

    it('takes labels up to 50 characters', () => {
      accepts({ emails: [{ address: 'a@example.com', label: 'l'.repeat(50) }] });
      refuses({ emails: [{ address: 'a@example.com', label: 'l'.repeat(51) }] }, 'emails[0].label');
      refuses({ phones: [{ number: '+15551234567', label: '' }] }, 'phones[0].label');
    });

    it('takes phones in E.164 only, up to 20, each once', () => {
      refuses({ phones: [{ number: '020 7946 0000' }] }, 'phones[0].number');
      refuses({ phones: [{ number: '+0123' }] }, 'phones[0].number');
      refuses(
        { phones: [{ number: '+15551234567' }, { number: '+15551234567' }] },
        'phones[1].number',
      );
      const list = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ number: `+1555000${String(i).padStart(4, '0')}` }));
      accepts({ phones: list(20) });
      refuses({ phones: list(21) }, 'phones');
    });

    it('takes up to 50 tags of up to 50 characters, each once, case-sensitive', () => {
      const list = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
      accepts({ tags: list(50) });
      accepts({ tags: ['VIP', 'vip'] });
      refuses({ tags: list(51) }, 'tags');
      refuses({ tags: ['t'.repeat(51)] }, 'tags[0]');
      refuses({ tags: ['a', 'b', 'a'] }, 'tags[2]');
    });

    it('names the address part at fault', () =>
      refuses(
        {
          address: {
            line1: null,
            line2: null,
            city: 'c'.repeat(201),
            region: null,
            postalCode: null,
            country: null,
          },
        },
        'address.city',
      ));

    it('refuses an owner id that is no id', () => refuses({ ownerUserId: 'u 1' }, 'ownerUserId'));

    it('refuses values of the wrong kind with VALIDATION_FAILED, not a crash', () => {
      refuses({ tags: 'vip' as unknown as string[] }, 'tags');
      refuses({ firstName: 42 as unknown as string }, 'firstName');
      refuses({ address: 'London' as unknown as ContactFields['address'] }, 'address');
      refuses({ emails: ['ada@example.com' as unknown as { address: string }] }, 'emails[0]');
    });
  });

  describe('update', () => {
    it('records only the fields that changed, with their new values', () =>
      given([created()])
        .when(update({ firstName: 'Ada', lastName: 'King', company: 'Babbage & Co' }))
        .then([updated({ lastName: 'King', company: 'Babbage & Co' })]));

    it('decides nothing when nothing changes', () =>
      given([created()])
        .when(update({ firstName: 'Ada', tags: ['vip', 'math'], address: ada.address }))
        .then([]));

    it('decides nothing for an empty patch', () => given([created()]).when(update({})).then([]));

    it('ignores keys that are no contact field', () =>
      given([created()])
        .when(update({ id: OTHER, archived: false } as unknown as ContactInput))
        .then([]));

    it('clears a field with null and a list with []', () =>
      given([created()])
        .when(update({ notes: null, tags: [] }))
        .then([updated({ notes: null, tags: [] })]));

    it('clears a list with null too', () =>
      given([created()])
        .when(update({ phones: null, emails: null }))
        .then([updated({ emails: [], phones: [] })]));

    it('treats an address with no part set as clearing it', () =>
      given([created()])
        .when(
          update({
            address: {
              line1: null,
              line2: null,
              city: null,
              region: null,
              postalCode: null,
              country: null,
            },
          }),
        )
        .then([updated({ address: null })]));

    it('records a whole list when one entry changes', () =>
      given([created()])
        .when(update({ emails: [{ address: 'ada@example.com' }, { address: 'ada@home.example' }] }))
        .then([
          updated({ emails: [{ address: 'ada@example.com' }, { address: 'ada@home.example' }] }),
        ]));

    it('counts a new order as a change (the first email is the one shown)', () =>
      given([created()])
        .when(update({ tags: ['math', 'vip'] }))
        .then([updated({ tags: ['math', 'vip'] })]));

    it('compares addresses by value, whatever the key order', () =>
      given([created()])
        .when(
          update({
            address: {
              country: 'GB',
              postalCode: 'SW1Y 4JH',
              region: null,
              city: 'London',
              line2: null,
              line1: '12 St James’s Square',
            },
          }),
        )
        .then([]));

    it('validates what it is given', () =>
      given([created()])
        .when(update({ tags: ['ok', ''] }))
        .thenRefused('VALIDATION_FAILED', 'tags[1]'));

    it('answers NOT_FOUND for a missing contact', () =>
      given([])
        .when(update({ firstName: 'X' }))
        .thenRefused('NOT_FOUND'));

    it('refuses an archived contact with CONTACT_ARCHIVED', () =>
      given([created(), archived])
        .when(update({ firstName: 'X' }))
        .thenRefused('CONTACT_ARCHIVED'));

    it('refuses a merged contact with CONTACT_ARCHIVED', () =>
      given([created(), mergedInto(OTHER)])
        .when(update({ firstName: 'X' }))
        .thenRefused('CONTACT_ARCHIVED'));

    it('refuses a viewer even when nothing would change', () =>
      given([created()]).when(update({}), as('viewer')).thenRefused('FORBIDDEN'));
  });

  describe('archive and unarchive', () => {
    it('archives an active contact', () =>
      given([created()]).when({ type: 'ArchiveContact' }).then([archived]));

    it('decides nothing when archiving an archived contact', () =>
      given([created(), archived]).when({ type: 'ArchiveContact' }).then([]));

    it('decides nothing when archiving a merged contact', () =>
      given([created(), mergedInto(OTHER)])
        .when({ type: 'ArchiveContact' })
        .then([]));

    it('unarchives an archived contact', () =>
      given([created(), archived]).when({ type: 'UnarchiveContact' }).then([unarchived]));

    it('decides nothing when unarchiving an active contact', () =>
      given([created(), archived, unarchived]).when({ type: 'UnarchiveContact' }).then([]));

    it('refuses to unarchive a merged contact', () =>
      given([created(), mergedInto(OTHER)])
        .when({ type: 'UnarchiveContact' })
        .thenRefused('INVALID_STATE'));

    it('answers NOT_FOUND for a missing contact', () => {
      given([]).when({ type: 'ArchiveContact' }).thenRefused('NOT_FOUND');
      given([]).when({ type: 'UnarchiveContact' }).thenRefused('NOT_FOUND');
    });

    it('is refused to a viewer', () => {
      given([created()]).when({ type: 'ArchiveContact' }, as('viewer')).thenRefused('FORBIDDEN');
      given([created(), archived])
        .when({ type: 'UnarchiveContact' }, as('auditor'))
        .thenRefused('FORBIDDEN');
    });

    it('lets an unarchived contact take changes again', () =>
      given([created(), archived, unarchived])
        .when(update({ firstName: 'Augusta' }))
        .then([updated({ firstName: 'Augusta' })]));
  });

  describe('logging an interaction', () => {
    it('records every field, with the time kept in UTC', () =>
      given([created()])
        .when(log({ ...call, occurredAt: '2026-11-20T10:30:00+01:00' }, 'i-1'))
        .then([logged('i-1', call)]));

    it('takes now when no time is given', () =>
      given([created()])
        .when(log({ type: 'note', body: 'Prefers email.' }))
        .then([
          logged('i-2', {
            type: 'note',
            occurredAt: now.toISOString(),
            subject: null,
            body: 'Prefers email.',
            direction: null,
            durationSeconds: null,
            dueAt: null,
            completed: null,
          }),
        ]));

    it('makes a task open unless said otherwise, with its due date', () =>
      given([created()])
        .when(log({ type: 'task', subject: 'Send the notes', dueAt: '2026-12-01T09:00:00Z' }))
        .then([
          logged('i-2', {
            type: 'task',
            occurredAt: now.toISOString(),
            subject: 'Send the notes',
            body: null,
            direction: null,
            durationSeconds: null,
            dueAt: '2026-12-01T09:00:00.000Z',
            completed: false,
          }),
        ]));

    it('drops completed: false on a type that is no task', () =>
      given([created()])
        .when(log({ ...call, completed: false }, 'i-1'))
        .then([logged('i-1', call)]));

    it('refuses a due date or completed: true on a type that is no task', () => {
      given([created()])
        .when(log({ ...call, dueAt: '2026-12-01T09:00:00Z' }))
        .thenRefused('VALIDATION_FAILED', 'dueAt');
      given([created()])
        .when(log({ ...call, completed: true }))
        .thenRefused('VALIDATION_FAILED', 'completed');
    });

    it('refuses an unknown type or direction', () => {
      given([created()])
        .when(log({ type: 'fax' as 'call' }))
        .thenRefused('VALIDATION_FAILED', 'type');
      given([created()])
        .when(log({ type: 'call', direction: 'sideways' as 'inbound' }))
        .thenRefused('VALIDATION_FAILED', 'direction');
    });

    it('takes a duration of 0 to 7 days in whole seconds', () => {
      for (const durationSeconds of [0, 604_800]) {
        given([created()])
          .when(log({ ...call, durationSeconds }, 'i-1'))
          .then([logged('i-1', { ...call, durationSeconds })]);
      }
      for (const durationSeconds of [-1, 604_801, 1.5, Number.NaN]) {
        given([created()])
          .when(log({ ...call, durationSeconds }))
          .thenRefused('VALIDATION_FAILED', 'durationSeconds');
      }
    });

    it('takes a subject up to 500 characters and a body up to 20,000', () => {
      given([created()])
        .when(log({ type: 'email', subject: 's'.repeat(501) }))
        .thenRefused('VALIDATION_FAILED', 'subject');
      given([created()])
        .when(log({ type: 'email', body: 'b'.repeat(20_001) }))
        .thenRefused('VALIDATION_FAILED', 'body');
      expect(
        decideContact(
          log({ type: 'email', subject: 's'.repeat(500), body: 'b'.repeat(20_000) }),
          foldContact([created()]),
          asEditor,
        ),
      ).toHaveLength(1);
    });

    it.each([
      ['2026-02-30T10:00:00Z', 'a day the month lacks'],
      ['2026-03-01', 'a bare date'],
      ['2026-03-01T10:00:00', 'a local time'],
      ['2026-03-01T24:00:00Z', 'hour 24'],
      ['2026-03-01T10:00:60Z', 'a leap second'],
      ['2026-03-01T10:00:00+25:00', 'an offset past 23 hours'],
      ['2026-04-31T10:00:00Z', 'April 31st'],
      ['2026-03-00T10:00:00Z', 'day 0'],
      ['2026-13-01T10:00:00Z', 'month 13'],
      ['0000-01-01T00:30:00+01:00', 'an instant before year 0000'],
      ['yesterday', 'words'],
    ])('refuses %s (%s) as a time', (occurredAt) =>
      given([created()])
        .when(log({ type: 'call', occurredAt }))
        .thenRefused('VALIDATION_FAILED', 'occurredAt'),
    );

    it('normalises times to UTC milliseconds', () => {
      const decided = decideContact(
        log({ type: 'call', occurredAt: '2026-03-01T00:30:00.123456-02:30' }),
        foldContact([created()]),
        asEditor,
      );
      expect(decided[0].data).toMatchObject({ occurredAt: '2026-03-01T03:00:00.123Z' });
    });

    it('refuses an id in use, or once used and removed', () => {
      given([created(), logged('i-1')])
        .when(log(call, 'i-1'))
        .thenRefused('ALREADY_EXISTS');
      given([created(), logged('i-1'), removed('i-1')])
        .when(log(call, 'i-1'))
        .thenRefused('ALREADY_EXISTS');
    });

    it('refuses an archived contact with CONTACT_ARCHIVED', () =>
      given([created(), archived]).when(log(call)).thenRefused('CONTACT_ARCHIVED'));

    it('answers NOT_FOUND for a missing contact', () =>
      given([]).when(log(call)).thenRefused('NOT_FOUND'));

    it('is refused to a viewer', () =>
      given([created()]).when(log(call), as('viewer')).thenRefused('FORBIDDEN'));
  });

  describe('updating an interaction', () => {
    const withCall = [created(), logged('i-1')];
    const interactionUpdated = (data: InteractionChanges): ContactEvent => ({
      type: 'InteractionUpdated',
      schemaVersion: 1,
      data: { interactionId: 'i-1', ...data },
    });

    it('records only the fields that changed', () =>
      given(withCall)
        .when(
          updateInteraction({ subject: 'Intro call', body: 'Longer talk.', durationSeconds: 900 }),
        )
        .then([interactionUpdated({ body: 'Longer talk.', durationSeconds: 900 })]));

    it('decides nothing when nothing changes (times compared as instants)', () =>
      given(withCall)
        .when(updateInteraction({ occurredAt: '2026-11-20T11:30:00+02:00', direction: 'outbound' }))
        .then([]));

    it('clears optional fields with null', () =>
      given(withCall)
        .when(updateInteraction({ body: null, direction: null }))
        .then([interactionUpdated({ body: null, direction: null })]));

    it('refuses to clear the type or the time', () => {
      given(withCall)
        .when(updateInteraction({ type: null }))
        .thenRefused('VALIDATION_FAILED', 'type');
      given(withCall)
        .when(updateInteraction({ occurredAt: null }))
        .thenRefused('VALIDATION_FAILED', 'occurredAt');
    });

    it('opens a task when another type becomes one', () =>
      given(withCall)
        .when(updateInteraction({ type: 'task' }))
        .then([interactionUpdated({ type: 'task', completed: false })]));

    it('completes a task', () =>
      given([created(), logged('i-1', { ...call, type: 'task', completed: false })])
        .when(updateInteraction({ completed: true }))
        .then([interactionUpdated({ completed: true })]));

    it('clears a task’s due date and state when it becomes another type', () =>
      given([
        created(),
        logged('i-1', {
          ...call,
          type: 'task',
          dueAt: '2026-12-01T09:00:00.000Z',
          completed: true,
        }),
      ])
        .when(updateInteraction({ type: 'note' }))
        .then([interactionUpdated({ type: 'note', dueAt: null, completed: null })]));

    it('refuses a due date on a type that is no task', () =>
      given(withCall)
        .when(updateInteraction({ dueAt: '2026-12-01T09:00:00Z' }))
        .thenRefused('VALIDATION_FAILED', 'dueAt'));

    it('answers NOT_FOUND for an unknown or removed interaction', () => {
      given(withCall)
        .when(updateInteraction({ subject: 'x' }, 'i-9'))
        .thenRefused('NOT_FOUND');
      given([...withCall, removed('i-1')])
        .when(updateInteraction({ subject: 'x' }))
        .thenRefused('NOT_FOUND');
    });

    it('refuses an archived contact with CONTACT_ARCHIVED', () =>
      given([...withCall, archived])
        .when(updateInteraction({ subject: 'x' }))
        .thenRefused('CONTACT_ARCHIVED'));

    it('is refused to a viewer', () =>
      given(withCall)
        .when(updateInteraction({ subject: 'x' }), as('viewer'))
        .thenRefused('FORBIDDEN'));
  });

  describe('removing an interaction', () => {
    const remove = (interactionId = 'i-1'): ContactCommand => ({
      type: 'RemoveInteraction',
      interactionId,
    });

    it('records the removal', () =>
      given([created(), logged('i-1')])
        .when(remove())
        .then([removed('i-1')]));

    it('answers NOT_FOUND for an unknown or already removed interaction', () => {
      given([created(), logged('i-1')])
        .when(remove('i-9'))
        .thenRefused('NOT_FOUND');
      given([created(), logged('i-1'), removed('i-1')])
        .when(remove())
        .thenRefused('NOT_FOUND');
    });

    it('refuses an archived contact with CONTACT_ARCHIVED', () =>
      given([created(), logged('i-1'), archived])
        .when(remove())
        .thenRefused('CONTACT_ARCHIVED'));

    it('is refused to a viewer', () =>
      given([created(), logged('i-1')])
        .when(remove(), as('viewer'))
        .thenRefused('FORBIDDEN'));
  });

  describe('merge', () => {
    const grace: ContactFields = {
      ...EMPTY_CONTACT_FIELDS,
      firstName: 'Grace',
      lastName: 'Hopper',
      emails: [{ address: 'grace@example.com' }, { address: 'ADA@example.com', label: 'old' }],
      phones: [{ number: '+15550001111' }, { number: '+441234567890', label: 'desk' }],
      company: 'Navy',
      jobTitle: 'Rear Admiral',
      tags: ['math', 'cobol'],
      notes: 'Source notes',
    };
    const target = (fields: Partial<ContactFields> = ada, ...more: ContactEvent[]) =>
      foldContact([created(fields, ID), ...more]);
    const source = (fields: Partial<ContactFields> = grace, ...more: ContactEvent[]) =>
      foldContact([created(fields, OTHER), ...more]);
    const merge: MergeContacts = { type: 'MergeContacts', sourceId: OTHER, targetId: ID };
    const mergeRefusal = (
      sourceState: ContactState,
      targetState: ContactState,
      context = asEditor,
      command = merge,
    ) => refusal(() => decideMerge(command, sourceState, targetState, context));

    it('archives the source as merged and gives the target what it lacked, explicitly', () =>
      expect(decideMerge(merge, source(), target(), asEditor)).toEqual({
        source: [mergedInto(ID)],
        target: [
          {
            type: 'ContactMergeReceived',
            schemaVersion: 1,
            data: {
              sourceId: OTHER,
              takenOver: {
                emails: [{ address: 'grace@example.com' }],
                phones: [{ number: '+15550001111' }],
                tags: ['cobol'],
              },
            },
          },
        ],
      }));

    it('fills the target’s empty fields; the target’s own values win', () => {
      const { target: events } = decideMerge(
        merge,
        source(),
        target({ emails: [{ address: 'x@example.com' }], company: 'Own Co' }),
        asEditor,
      );
      expect(events[0].data).toEqual({
        sourceId: OTHER,
        takenOver: {
          emails: [{ address: 'grace@example.com' }, { address: 'ADA@example.com', label: 'old' }],
          phones: grace.phones,
          tags: grace.tags,
          firstName: 'Grace',
          lastName: 'Hopper',
          jobTitle: 'Rear Admiral',
          notes: 'Source notes',
        },
      });
    });

    it('compares mailboxes case-insensitively, keeping the target’s spelling', () =>
      expect(
        decideMerge(
          merge,
          source({ emails: [{ address: 'ada.l@example.com' }] }),
          target({ emails: [{ address: 'Ada.L@example.com' }] }),
          asEditor,
        ).target[0].data,
      ).toEqual({ sourceId: OTHER, takenOver: {} }));

    it('takes a name only as a pair, never half of one', () => {
      const { target: events } = decideMerge(
        merge,
        source(),
        target({ lastName: 'Smith' }),
        asEditor,
      );
      expect(events[0].data).not.toHaveProperty('takenOver.firstName');
      expect(events[0].data).not.toHaveProperty('takenOver.lastName');
    });

    it('records a merge that takes nothing, so the target still knows its source', () =>
      expect(decideMerge(merge, source({ firstName: 'Ada' }), target(), asEditor).target).toEqual([
        {
          type: 'ContactMergeReceived',
          schemaVersion: 1,
          data: { sourceId: OTHER, takenOver: {} },
        },
      ]));

    it('replays the target from its own stream, whatever the source does later', () => {
      const { target: events } = decideMerge(merge, source(), target(), asEditor);
      const targetAfter = active(foldContact([created(ada, ID), ...events]));
      expect(targetAfter.fields.emails).toEqual([...ada.emails, { address: 'grace@example.com' }]);
      expect(targetAfter.fields.phones).toEqual([...ada.phones, { number: '+15550001111' }]);
      expect(targetAfter.fields.tags).toEqual(['vip', 'math', 'cobol']);
      expect(targetAfter.mergedFrom).toEqual([OTHER]);
      expect(foldContact([created(ada, ID), ...events])).toEqual(targetAfter);
    });

    it('decides the same events from the same states', () =>
      expect(decideMerge(merge, source(), target(), asEditor)).toEqual(
        decideMerge(merge, source(), target(), asEditor),
      ));

    it('lets an archived (not merged) contact be the source', () =>
      expect(decideMerge(merge, source(grace, archived), target(), asEditor).source).toEqual([
        mergedInto(ID),
      ]));

    it('refuses a contact merging into itself', () => {
      const error = mergeRefusal(target(), target(), asEditor, {
        type: 'MergeContacts',
        sourceId: ID,
        targetId: ID,
      });
      expect(error.code).toBe('VALIDATION_FAILED');
      expect((error as ContactValidationError).field).toBe('sourceId');
    });

    it('refuses an archived target with CONTACT_ARCHIVED', () =>
      expect(mergeRefusal(source(), target(ada, archived)).code).toBe('CONTACT_ARCHIVED'));

    it('refuses a merged target with CONTACT_ARCHIVED', () =>
      expect(mergeRefusal(source(), target(ada, mergedInto(THIRD))).code).toBe('CONTACT_ARCHIVED'));

    it('refuses a source already merged into another contact', () =>
      expect(mergeRefusal(source(grace, mergedInto(THIRD)), target()).code).toBe('INVALID_STATE'));

    it('answers NOT_FOUND when either contact is missing', () => {
      expect(mergeRefusal(initialContactState, target()).code).toBe('NOT_FOUND');
      expect(mergeRefusal(source(), initialContactState).code).toBe('NOT_FOUND');
    });

    it('refuses states that are not the contacts the command names', () =>
      expect(mergeRefusal(target(), source()).code).toBe('INVALID_STATE'));

    it('refuses a merge that would take a list past its limit, dropping nothing silently', () => {
      const many = Array.from({ length: 19 }, (_, i) => ({ address: `t${i}@example.com` }));
      const error = mergeRefusal(source(), target({ ...ada, emails: many }));
      expect(error.code).toBe('VALIDATION_FAILED');
      expect((error as ContactValidationError).field).toBe('emails');
    });

    it('is refused to a viewer before anything else', () =>
      expect(mergeRefusal(initialContactState, initialContactState, as('viewer')).code).toBe(
        'FORBIDDEN',
      ));

    it('completes a half-done merge whose target already received it', () => {
      const { target: received } = decideMerge(merge, source(), target(), asEditor);
      expect(decideMerge(merge, source(), target(ada, ...received), asEditor)).toEqual({
        source: [mergedInto(ID)],
        target: [],
      });
    });

    it('completes a half-done merge whose source was already merged', () => {
      const whole = decideMerge(merge, source(), target(), asEditor);
      expect(decideMerge(merge, source(grace, mergedInto(ID)), target(), asEditor)).toEqual({
        source: [],
        target: whole.target,
      });
    });

    it('decides nothing for a merge already done on both sides', () => {
      const { target: received } = decideMerge(merge, source(), target(), asEditor);
      expect(
        decideMerge(merge, source(grace, mergedInto(ID)), target(ada, ...received), asEditor),
      ).toEqual({ source: [], target: [] });
    });

    it('leaves the source archived as merged into the target, for good', () => {
      const merged = source(grace, mergedInto(ID));
      expect(merged).toMatchObject({ status: 'archived', mergedInto: ID, fields: grace });
      expect(() => decideContact({ type: 'UnarchiveContact' }, merged, asEditor)).toThrow(
        DomainError,
      );
    });
  });

  describe('erasure', () => {
    const erase: ContactCommand = { type: 'EraseContact' };
    const erased: ContactEvent = { type: 'ContactErased', schemaVersion: 1, data: {} };

    it.each([
      ['an active contact', [created()]],
      ['an archived one', [created(), archived]],
      ['one merged into another', [created(), mergedInto(OTHER)]],
      ['one with interactions', [created(), logged('i-1')]],
    ])('erases %s, for an owner, an admin or the system', (_name, history) => {
      for (const context of [as('owner'), as('admin'), as(undefined, system)]) {
        given(history).when(erase, context).then([erased]);
      }
    });

    it('needs contacts:erase, which editors and below lack (and says so before anything else)', () => {
      for (const role of ['editor', 'viewer', 'auditor', undefined] as const) {
        given([created()]).when(erase, as(role)).thenRefused('FORBIDDEN');
        given([]).when(erase, as(role)).thenRefused('FORBIDDEN');
      }
    });

    it('refuses a contact that never existed, and decides nothing for an erased one', () => {
      given([]).when(erase, as('admin')).thenRefused('NOT_FOUND');
      given([created(), erased]).when(erase, as('admin')).then([]);
    });

    it('leaves no contact, for good: every command is refused, creation included', () => {
      const history = [created(), erased];
      expect(foldContact(history)).toEqual({ status: 'none', erased: true });
      given(history).when(create()).thenRefused('ALREADY_EXISTS');
      given(history)
        .when(update({ firstName: 'Ada' }))
        .thenRefused('NOT_FOUND');
      given(history).when({ type: 'UnarchiveContact' }).thenRefused('NOT_FOUND');
      given(history).when(log(call)).thenRefused('NOT_FOUND');
      const state = foldContact(history);
      expect(() =>
        decideMerge(
          { type: 'MergeContacts', sourceId: ID, targetId: OTHER },
          state,
          foldContact([created(ada, OTHER)]),
          asEditor,
        ),
      ).toThrow(DomainError);
      // Nothing that follows brings it back, not even a creation.
      expect(evolveContact(state, created())).toBe(state);
    });

    it('folds from what is still readable: the erasure alone leaves no contact either', () =>
      expect(foldContact([erased])).toEqual({ status: 'none', erased: true }));
  });

  describe('evolve', () => {
    it('folds a creation into an active contact with exactly the fields recorded', () =>
      expect(foldContact([created()])).toEqual({
        status: 'active',
        contactId: ID,
        fields: ada,
        interactions: new Map(),
        removedInteractionIds: new Set(),
        mergedFrom: [],
      }));

    it('applies an update to the fields it names only', () =>
      expect(active(foldContact([created(), updated({ lastName: 'King' })])).fields).toEqual({
        ...ada,
        lastName: 'King',
      }));

    it('archives and unarchives', () => {
      expect(foldContact([created(), archived])).toMatchObject({
        status: 'archived',
        mergedInto: null,
      });
      const back = foldContact([created(), archived, unarchived]);
      expect(back.status).toBe('active');
      expect(back).not.toHaveProperty('mergedInto');
    });

    it('keeps interactions in log order and forgets removed ones', () => {
      const state = active(
        foldContact([created(), logged('i-1'), logged('i-2'), logged('i-3'), removed('i-2')]),
      );
      expect([...state.interactions.keys()]).toEqual(['i-1', 'i-3']);
      expect(state.removedInteractionIds).toEqual(new Set(['i-2']));
    });

    it('ignores events before a creation', () =>
      expect(foldContact([updated({ firstName: 'X' }), archived])).toEqual(initialContactState));

    it('never changes the state it is given', () => {
      const before = foldContact([created(), logged('i-1')]);
      const snapshot = structuredClone(before);
      evolveContact(before, removed('i-1'));
      evolveContact(before, updated({ tags: [] }));
      evolveContact(before, archived);
      expect(before).toEqual(snapshot);
    });

    it('reaches the same state from decided events as from a replay (round trip)', () => {
      const commands: ContactCommand[] = [
        create(),
        update({ lastName: 'King', tags: ['vip'] }),
        log(call, 'i-1'),
        log({ type: 'task', subject: 'Write back' }, 'i-2'),
        updateInteraction({ completed: true }, 'i-2'),
        { type: 'RemoveInteraction', interactionId: 'i-1' },
        { type: 'ArchiveContact' },
        { type: 'UnarchiveContact' },
        update({ address: null, notes: 'Done.' }),
      ];
      let state = initialContactState;
      const log_: ContactEvent[] = [];
      for (const command of commands) {
        const events = decideContact(command, state, asEditor);
        expect(events.length).toBeGreaterThan(0);
        log_.push(...events);
        state = events.reduce(evolveContact, state);
      }
      const replayed = active(foldContact(JSON.parse(JSON.stringify(log_)) as ContactEvent[]));
      expect(replayed).toEqual(state);
      expect(replayed.fields).toEqual({
        ...ada,
        lastName: 'King',
        tags: ['vip'],
        address: null,
        notes: 'Done.',
      });
      expect(replayed.interactions.get('i-2')).toMatchObject({ type: 'task', completed: true });
      // Every decision, replayed, now decides nothing more.
      expect(decideContact(update({ lastName: 'King' }), replayed, asEditor)).toEqual([]);
    });
  });
});
