import { randomUUID } from 'node:crypto';
import { InvalidStreamNameError } from './errors';
import { parseStreamName, streamName } from './stream-name';

describe('stream names', () => {
  const organisationId = randomUUID();

  it('carry category, organisation and id', () => {
    const contactId = randomUUID();
    expect(parseStreamName(`contact-${organisationId}.${contactId}`)).toEqual({
      category: 'contact',
      organisationId,
      id: contactId,
    });
    expect(streamName('organisation', organisationId, organisationId)).toBe(
      `organisation-${organisationId}.${organisationId}`,
    );
  });

  it.each([
    ['no organisation', 'contact-abc.def'],
    ['no id', `contact-${organisationId}`],
    ['an empty id', `contact-${organisationId}.`],
    ['an id longer than 64 characters', `contact-${organisationId}.${'a'.repeat(65)}`],
    ['an upper-case organisation', `contact-${organisationId.toUpperCase()}.x`],
    ['a category starting with a digit', `1contact-${organisationId}.x`],
    ['a dot in the id', `contact-${organisationId}.a.b`],
    ['surrounding whitespace', ` contact-${organisationId}.x`],
  ])('refuse a name with %s', (_, stream) => {
    expect(() => parseStreamName(stream)).toThrow(InvalidStreamNameError);
  });

  it('are refused when built from parts that do not make a valid name', () => {
    expect(() => streamName('contact', 'not-a-uuid', 'x')).toThrow(InvalidStreamNameError);
    expect(() => streamName('contact', organisationId, 'a/b')).toThrow(InvalidStreamNameError);
  });
});
