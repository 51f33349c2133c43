import { dataKeySubject } from './data-subject';

describe('dataKeySubject', () => {
  const organisationId = '5e6329ae-2c01-4b5f-b415-301548d61649';
  const contactId = 'b4677e43-600c-44b4-b424-d7f4c1fbe4dc';
  const contact = { category: 'contact', organisationId, id: contactId };

  it('keys a contact’s own events to the contact, so that erasing it shreds them', () => {
    for (const type of ['ContactCreated', 'ContactUpdated', 'InteractionLogged', 'ContactMerged'])
      expect(dataKeySubject(contact, type)).toBe(contactId);
  });

  it('keys the erasure record, and every other stream, to the organisation', () => {
    expect(dataKeySubject(contact, 'ContactErased')).toBe(organisationId);
    expect(
      dataKeySubject({ category: 'organisation', organisationId, id: organisationId }, 'UserAdded'),
    ).toBe(organisationId);
    expect(dataKeySubject({ category: 'platform', organisationId, id: 'signing-keys' }, 'X')).toBe(
      organisationId,
    );
  });
});
