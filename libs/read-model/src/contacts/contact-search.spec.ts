import { EMPTY_CONTACT_FIELDS } from '@beecastle/domain';
import { contactNameKey, contactSearchText, foldForSearch, searchPattern } from './contact-search';

describe('contact search text', () => {
  it('folds case and accents', () => {
    expect(foldForSearch('José ÅNGSTRÖM İstanbul')).toBe('jose angstrom istanbul');
  });

  it('puts the name on one line and each email and the company on their own', () => {
    const fields = {
      ...EMPTY_CONTACT_FIELDS,
      firstName: 'Ada',
      lastName: 'Lovelace',
      emails: [{ address: 'Ada@example.com' }, { address: 'x@y.org', label: 'home' }],
      company: 'Engines',
    };
    expect(contactSearchText(fields)).toBe('ada lovelace\nada@example.com\nx@y.org\nengines');
    expect(contactSearchText(EMPTY_CONTACT_FIELDS)).toBe('');
  });

  it('sorts a nameless contact by its first email, then its company', () => {
    const nameless = { ...EMPTY_CONTACT_FIELDS, company: 'Zeta' };
    expect(contactNameKey({ ...nameless, lastName: 'Émile' })).toBe('emile');
    expect(contactNameKey({ ...nameless, emails: [{ address: 'b@c.d' }] })).toBe('b@c.d');
    expect(contactNameKey(nameless)).toBe('zeta');
  });

  it('takes LIKE wildcards and the escape character in q literally', () => {
    expect(searchPattern('100%_Ré\\')).toBe('%100\\%\\_re\\\\%');
  });
});
