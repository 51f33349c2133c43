import 'reflect-metadata';
import type { ArgumentMetadata } from '@nestjs/common';
import {
  companyName,
  generateContact,
  generatePatch,
  SeededRandom,
} from '../../../../test/bench/api-contacts';
import { bodyValidation } from '../http/validation';
import { type ContactFieldsDto, toContactInput } from './contact-fields.dto';
import { plainlyValidContactFields } from './contact-fields.validation';
import { CreateContactDto } from './create-contact/create-contact.dto';
import { UpdateContactDto } from './update-contact/update-contact.dto';

const UUID = '0B6F3C2E-8F1A-4D8E-9A57-3C1D2E4F5A6B';
const long = (n: number) => 'x'.repeat(n);

/** What the decorators make of a body: the DTO, or the refusal's status and fields. */
async function decorators(body: unknown, metatype: new () => ContactFieldsDto) {
  const metadata: ArgumentMetadata = { type: 'body', metatype, data: undefined };
  try {
    return { dto: (await bodyValidation.transform(structuredClone(body), metadata)) as object };
  } catch (error) {
    return { refused: error };
  }
}

// Bodies on either side of every rule: each must get the decorators' answer.
const EDGES: unknown[] = [
  {},
  { firstName: '  Ada  ', lastName: 'Lovelace' },
  { firstName: '' },
  { firstName: '   ' },
  { firstName: 7 },
  { firstName: null, lastName: null, company: null, jobTitle: null, notes: null },
  { firstName: long(200) },
  { firstName: long(201) },
  { firstName: '😀'.repeat(200) },
  { notes: '   ' },
  { notes: long(20_001) },
  { nickname: 'x' },
  { nickname: null },
  { constructor: 'x' },
  { toString: null },
  JSON.parse('{"__proto__": {"firstName": "x"}}'),
  { emails: [{ address: ' ADA@Example.COM ', label: ' work ' }] },
  { emails: [{ address: 'ada@example.com' }] },
  { emails: [{ address: 'ada@example.com', label: null }] },
  { emails: [{ address: 'ada@example.com', label: '' }] },
  { emails: [{ address: 'not an email' }] },
  { emails: [{ address: 'ada@example.com', extra: 1 }] },
  { emails: [{ label: 'work' }] },
  { emails: [null] },
  { emails: ['ada@example.com'] },
  { emails: {} },
  { emails: null },
  { emails: [] },
  { emails: Array.from({ length: 21 }, (_, i) => ({ address: `a${i}@example.com` })) },
  { emails: [{ address: `${long(250)}@example.com` }] },
  { phones: [{ number: '+44 20 7946 0958', label: 'mobile' }] },
  { phones: [{ number: '+442079460958' }] },
  { phones: [{ number: '020 7946 0958' }] },
  { phones: [{ number: '+44 20' }] },
  { phones: [{ number: 442079460958 }] },
  { phones: [{ number: '+1 202 555 0143' }] },
  { phones: [{ number: ' +44 20 7946 0958 ' }] },
  { phones: [{ number: `+44${' '.repeat(70)}2079460958` }] },
  { phones: [{ number: '+44 20 7946 0958 ext. 123' }] },
  { phones: [{ number: 'tel:+442079460958' }] },
  { phones: [{ number: '+44 (0) 20 7946 0958' }] },
  { phones: [{ number: '+44 20 7946 0958', label: long(51) }] },
  { address: {} },
  { address: { line1: ' 1 Bletchley Park ', country: 'GB', city: null } },
  { address: { line1: '' } },
  { address: { street: 'x' } },
  { address: { constructor: 'x' } },
  { address: [] },
  { address: 'Milton Keynes' },
  { tags: [' vip ', 'customer'] },
  { tags: ['vip', ''] },
  { tags: ['vip', null] },
  { tags: ['vip', 3] },
  { tags: 'vip' },
  { tags: [long(51)] },
  { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
  { ownerUserId: UUID },
  { ownerUserId: 'not-a-uuid' },
  { ownerUserId: 3 },
  { ownerUserId: null },
  [],
  'text',
  null,
];

describe('plainlyValidContactFields', () => {
  const random = new SeededRandom(7);
  const companies = Array.from({ length: 20 }, () => companyName(random));
  const generated = [
    ...Array.from({ length: 200 }, () => generateContact(random, companies)),
    ...Array.from({ length: 200 }, () => generatePatch(random)),
  ];

  it.each([CreateContactDto, UpdateContactDto])(
    'gives the decorators’ DTO or steps aside, never another answer (%p)',
    async (metatype) => {
      for (const body of [...EDGES, ...generated]) {
        const plain = plainlyValidContactFields(structuredClone(body), metatype);
        if (plain === undefined) continue;
        const { dto, refused } = await decorators(body, metatype);
        expect({ body, refused }).toEqual({ body, refused: undefined });
        expect(plain).toBeInstanceOf(metatype);
        expect(plain).toEqual(dto);
        expect(toContactInput(plain)).toEqual(toContactInput(dto as ContactFieldsDto));
      }
    },
  );

  it('takes every valid body the clients send the short way', async () => {
    for (const body of generated) {
      expect((await decorators(body, CreateContactDto)).refused).toBeUndefined();
      expect(plainlyValidContactFields(structuredClone(body), CreateContactDto)).toBeDefined();
    }
  });

  it('leaves every body the decorators refuse to them', async () => {
    let refused = 0;
    for (const body of EDGES) {
      if ((await decorators(body, CreateContactDto)).refused === undefined) continue;
      refused += 1;
      expect({ body, plain: plainlyValidContactFields(body, CreateContactDto) }).toEqual({
        body,
        plain: undefined,
      });
    }
    expect(refused).toBeGreaterThan(30);
  });
});
