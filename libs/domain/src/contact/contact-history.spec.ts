import { EMPTY_CONTACT_FIELDS, foldContact } from './contact';
import { ERASED_VALUE, contactHistory, diffContact } from './contact-history';
import type { ContactEvent, ContactFields } from './contact.events';

const ID = '7d1e2c3b-4a5f-4e6d-8c7b-9a0f1e2d3c4b';
const SOURCE = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

const created = (fields: Partial<ContactFields>): ContactEvent => ({
  type: 'ContactCreated',
  schemaVersion: 1,
  data: { contactId: ID, ...EMPTY_CONTACT_FIELDS, ...fields },
});
const address = {
  line1: '1 Main St',
  line2: null,
  city: 'Leeds',
  region: null,
  postalCode: 'LS1 1AA',
  country: 'GB',
};
const base = created({
  firstName: 'Ada',
  emails: [{ address: 'ada@example.com' }],
  address,
  tags: ['vip'],
});
const call = {
  interactionId: 'i-1',
  type: 'call',
  occurredAt: '2026-11-20T09:30:00.000Z',
  subject: 'Intro',
  body: null,
  direction: 'inbound',
  durationSeconds: 60,
  dueAt: null,
  completed: null,
} as const;

const historyOf = (...events: ContactEvent[]) => contactHistory(events);
const lastChanges = (...events: ContactEvent[]) => historyOf(...events).at(-1)!.changes;

describe('contact history', () => {
  it('keeps an item for every event after an erasure, each value [erased], and lists no value', () => {
    const erasure: ContactEvent = { type: 'ContactErased', schemaVersion: 1, data: {} };
    const items = contactHistory([
      { type: 'ContactCreated', erased: true },
      { type: 'InteractionLogged', erased: true },
      erasure,
    ]);
    expect(items).toEqual([
      {
        type: 'ContactCreated',
        changes: [{ field: ERASED_VALUE, before: '[erased]', after: '[erased]' }],
      },
      {
        type: 'InteractionLogged',
        changes: [{ field: ERASED_VALUE, before: '[erased]', after: '[erased]' }],
      },
      { type: 'ContactErased', changes: [{ field: 'erased', before: false, after: true }] },
    ]);
    // Read before the key is gone, the erasure still shows none of the contact's values.
    expect(lastChanges(base, erasure)).toEqual([{ field: 'erased', before: false, after: true }]);
  });

  it('gives one item per event, in log order, with its type', () =>
    expect(
      historyOf(
        base,
        { type: 'ContactArchived', schemaVersion: 1, data: {} },
        { type: 'ContactUnarchived', schemaVersion: 1, data: {} },
      ).map((item) => item.type),
    ).toEqual(['ContactCreated', 'ContactArchived', 'ContactUnarchived']));

  it('lists on creation the fields set, from null or an empty list', () =>
    expect(lastChanges(base)).toEqual([
      { field: 'firstName', before: null, after: 'Ada' },
      { field: 'emails', before: [], after: [{ address: 'ada@example.com' }] },
      { field: 'address.line1', before: null, after: '1 Main St' },
      { field: 'address.city', before: null, after: 'Leeds' },
      { field: 'address.postalCode', before: null, after: 'LS1 1AA' },
      { field: 'address.country', before: null, after: 'GB' },
      { field: 'tags', before: [], after: ['vip'] },
    ]));

  it('shows an update’s before values, computed by folding', () =>
    expect(
      lastChanges(base, {
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { firstName: 'Augusta', notes: 'New' },
      }),
    ).toEqual([
      { field: 'firstName', before: 'Ada', after: 'Augusta' },
      { field: 'notes', before: null, after: 'New' },
    ]));

  it('shows an address change part by part', () =>
    expect(
      lastChanges(base, {
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { address: { ...address, city: 'York', postalCode: null } },
      }),
    ).toEqual([
      { field: 'address.city', before: 'Leeds', after: 'York' },
      { field: 'address.postalCode', before: 'LS1 1AA', after: null },
    ]));

  it('shows a cleared address as every part going to null', () =>
    expect(
      lastChanges(base, { type: 'ContactUpdated', schemaVersion: 1, data: { address: null } }).map(
        (c) => [c.field, c.after],
      ),
    ).toEqual([
      ['address.line1', null],
      ['address.city', null],
      ['address.postalCode', null],
      ['address.country', null],
    ]));

  it('shows lists whole, before and after', () =>
    expect(
      lastChanges(base, {
        type: 'ContactUpdated',
        schemaVersion: 1,
        data: { emails: [{ address: 'ada@example.com', label: 'work' }] },
      }),
    ).toEqual([
      {
        field: 'emails',
        before: [{ address: 'ada@example.com' }],
        after: [{ address: 'ada@example.com', label: 'work' }],
      },
    ]));

  it('shows archiving and unarchiving as `archived`', () => {
    const items = historyOf(
      base,
      { type: 'ContactArchived', schemaVersion: 1, data: {} },
      { type: 'ContactUnarchived', schemaVersion: 1, data: {} },
    );
    expect(items[1].changes).toEqual([{ field: 'archived', before: false, after: true }]);
    expect(items[2].changes).toEqual([{ field: 'archived', before: true, after: false }]);
  });

  it('shows a merged source as archived into its target', () =>
    expect(
      lastChanges(base, { type: 'ContactMerged', schemaVersion: 1, data: { targetId: SOURCE } }),
    ).toEqual([
      { field: 'archived', before: false, after: true },
      { field: 'mergedInto', before: null, after: SOURCE },
    ]));

  it('shows what a target took over, and from whom', () =>
    expect(
      lastChanges(base, {
        type: 'ContactMergeReceived',
        schemaVersion: 1,
        data: {
          sourceId: SOURCE,
          takenOver: { emails: [{ address: 'g@example.com' }], company: 'Navy' },
        },
      }),
    ).toEqual([
      {
        field: 'emails',
        before: [{ address: 'ada@example.com' }],
        after: [{ address: 'ada@example.com' }, { address: 'g@example.com' }],
      },
      { field: 'company', before: null, after: 'Navy' },
      { field: 'mergedFrom', before: [], after: [SOURCE] },
    ]));

  it('shows an interaction logged, updated and removed under interactions.<id>', () => {
    const items = historyOf(
      base,
      { type: 'InteractionLogged', schemaVersion: 1, data: call },
      {
        type: 'InteractionUpdated',
        schemaVersion: 1,
        data: { interactionId: 'i-1', subject: 'Intro call' },
      },
      { type: 'InteractionRemoved', schemaVersion: 1, data: { interactionId: 'i-1' } },
    );
    expect(items[1].changes).toEqual([
      { field: 'interactions.i-1.type', before: null, after: 'call' },
      { field: 'interactions.i-1.occurredAt', before: null, after: '2026-11-20T09:30:00.000Z' },
      { field: 'interactions.i-1.subject', before: null, after: 'Intro' },
      { field: 'interactions.i-1.direction', before: null, after: 'inbound' },
      { field: 'interactions.i-1.durationSeconds', before: null, after: 60 },
    ]);
    expect(items[2].changes).toEqual([
      { field: 'interactions.i-1.subject', before: 'Intro', after: 'Intro call' },
    ]);
    expect(items[3].changes.map((c) => [c.field, c.after])).toEqual([
      ['interactions.i-1.type', null],
      ['interactions.i-1.occurredAt', null],
      ['interactions.i-1.subject', null],
      ['interactions.i-1.direction', null],
      ['interactions.i-1.durationSeconds', null],
    ]);
  });

  it('shows a task completed as false → true', () =>
    expect(
      lastChanges(
        base,
        {
          type: 'InteractionLogged',
          schemaVersion: 1,
          data: { ...call, type: 'task', completed: false },
        },
        {
          type: 'InteractionUpdated',
          schemaVersion: 1,
          data: { interactionId: 'i-1', completed: true },
        },
      ),
    ).toEqual([{ field: 'interactions.i-1.completed', before: false, after: true }]));

  it('shows nothing for other interactions when one changes', () =>
    expect(
      lastChanges(
        base,
        { type: 'InteractionLogged', schemaVersion: 1, data: call },
        { type: 'InteractionLogged', schemaVersion: 1, data: { ...call, interactionId: 'i-2' } },
      ).every((c) => c.field.startsWith('interactions.i-2.')),
    ).toBe(true));

  it('continues from a given state, so a page of history needs no refold from the start', () => {
    const update: ContactEvent = {
      type: 'ContactUpdated',
      schemaVersion: 1,
      data: { tags: [] },
    };
    expect(contactHistory([update], foldContact([base]))).toEqual(historyOf(base, update).slice(1));
  });

  it('finds no change between a state and itself', () => {
    const state = foldContact([base, { type: 'InteractionLogged', schemaVersion: 1, data: call }]);
    expect(diffContact(state, state)).toEqual([]);
    expect(
      diffContact(
        state,
        foldContact([base, { type: 'InteractionLogged', schemaVersion: 1, data: call }]),
      ),
    ).toEqual([]);
  });
});
