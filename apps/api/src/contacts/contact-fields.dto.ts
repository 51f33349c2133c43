import { ADDRESS_PARTS, CONTACT_LIMITS, type ContactInput } from '@beecastle/domain';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsEmail,
  IsNotEmpty,
  IsOptional,
  IsPhoneNumber,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

// Surrounding spaces are never meant: trimmed here, so the domain (which refuses them) sees none.
export const Trimmed = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value));

// A mailbox compares case-insensitively in practice: one spelling, so duplicates are seen.
const NormalisedEmail = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  );

/** A valid international number in any spelling ("+44 20 7946 0958") as E.164; else undefined. */
export function validE164(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  const parsed = parsePhoneNumberFromString(value.trim());
  return parsed?.isValid() ? parsed.number : undefined;
}

// Any international spelling becomes E.164; anything that is not a valid number with its
// country code is left as sent, for @IsPhoneNumber to refuse.
export function toE164(value: unknown): unknown {
  return validE164(value) ?? value;
}
const E164Phone = () => Transform(({ value }: { value: unknown }) => toE164(value));

export const E164 = /^\+[1-9][0-9]{1,14}$/u;

export class ContactEmailDto {
  @ApiProperty({
    description: 'Trimmed and lower-cased on the way in.',
    format: 'email',
    maxLength: CONTACT_LIMITS.emailLength,
    example: 'ada@example.com',
  })
  @NormalisedEmail()
  @IsString()
  @MaxLength(CONTACT_LIMITS.emailLength)
  @IsEmail({}, { message: 'emails[].address must be an email address' })
  readonly address!: string;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.labelLength,
    nullable: true,
    example: 'work',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.labelLength)
  readonly label?: string | null;
}

export class ContactPhoneDto {
  @ApiProperty({
    description:
      'International format with the country code; stored and answered in E.164 (+442079460958).',
    example: '+44 20 7946 0958',
  })
  @E164Phone()
  @IsString()
  @IsPhoneNumber(undefined, {
    message: 'phones[].number must be a valid phone number in international format (+…)',
  })
  @Matches(E164, { message: 'phones[].number must be a valid phone number' })
  readonly number!: string;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.labelLength,
    nullable: true,
    example: 'mobile',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.labelLength)
  readonly label?: string | null;
}

const addressPart = (example: string) =>
  ApiPropertyOptional({ maxLength: CONTACT_LIMITS.addressPartLength, nullable: true, example });

/** Every part optional; an address with no part set is no address (null). */
export class ContactAddressDto {
  @addressPart('1 Bletchley Park')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly line1?: string | null;

  @addressPart('Sherwood Drive')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly line2?: string | null;

  @addressPart('Milton Keynes')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly city?: string | null;

  @addressPart('Buckinghamshire')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly region?: string | null;

  @addressPart('MK3 6EB')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly postalCode?: string | null;

  @addressPart('GB')
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.addressPartLength)
  readonly country?: string | null;
}

/**
 * A contact's own fields, every one optional. On create, absent or null means none; on update,
 * absent leaves a field as it is and null (or []) clears it.
 */
export class ContactFieldsDto {
  @ApiPropertyOptional({ maxLength: CONTACT_LIMITS.nameLength, nullable: true, example: 'Ada' })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.nameLength)
  readonly firstName?: string | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.nameLength,
    nullable: true,
    example: 'Lovelace',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.nameLength)
  readonly lastName?: string | null;

  @ApiPropertyOptional({
    type: [ContactEmailDto],
    maxItems: CONTACT_LIMITS.emails,
    nullable: true,
    description: 'No mailbox twice (compared case-insensitively).',
    example: [{ address: 'ada@example.com', label: 'work' }],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(CONTACT_LIMITS.emails)
  @ValidateNested({ each: true })
  @Type(() => ContactEmailDto)
  readonly emails?: ContactEmailDto[] | null;

  @ApiPropertyOptional({
    type: [ContactPhoneDto],
    maxItems: CONTACT_LIMITS.phones,
    nullable: true,
    description: 'No number twice (compared in E.164).',
    example: [{ number: '+44 20 7946 0958', label: 'mobile' }],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(CONTACT_LIMITS.phones)
  @ValidateNested({ each: true })
  @Type(() => ContactPhoneDto)
  readonly phones?: ContactPhoneDto[] | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.companyLength,
    nullable: true,
    example: 'Analytical Engines Ltd',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.companyLength)
  readonly company?: string | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.jobTitleLength,
    nullable: true,
    example: 'Mathematician',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.jobTitleLength)
  readonly jobTitle?: string | null;

  @ApiPropertyOptional({ type: ContactAddressDto, nullable: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => ContactAddressDto)
  readonly address?: ContactAddressDto | null;

  @ApiPropertyOptional({
    type: [String],
    maxItems: CONTACT_LIMITS.tags,
    nullable: true,
    description: `Case-sensitive, each at most ${CONTACT_LIMITS.tagLength} characters, no tag twice.`,
    example: ['customer', 'vip'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(CONTACT_LIMITS.tags)
  @Transform(({ value }: { value: unknown }) =>
    Array.isArray(value)
      ? (value as unknown[]).map((t) => (typeof t === 'string' ? t.trim() : t))
      : value,
  )
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  @MaxLength(CONTACT_LIMITS.tagLength, { each: true })
  readonly tags?: string[] | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.notesLength,
    nullable: true,
    description: 'Free text; line breaks are kept.',
    example: 'Met at the Royal Society.',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.notesLength)
  readonly notes?: string | null;

  @ApiPropertyOptional({
    description: 'An active member of the organisation.',
    format: 'uuid',
    nullable: true,
    example: '0b6f3c2e-8f1a-4d8e-9a57-3c1d2e4f5a6b',
  })
  @IsOptional()
  @IsUUID()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  )
  readonly ownerUserId?: string | null;
}

/**
 * The fields the client sent, as the domain takes them: absent stays absent (an update leaves
 * it), null stays null (clears it). The domain checks every value again.
 */
export function toContactInput(dto: ContactFieldsDto): ContactInput {
  const { emails, phones, address, tags, ...text } = dto;
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(text)) if (value !== undefined) input[key] = value;
  if (emails !== undefined)
    input.emails = emails?.map((e) => ({
      address: e.address,
      ...(e.label ? { label: e.label } : {}),
    }));
  if (phones !== undefined)
    input.phones = phones?.map((p) => ({
      number: p.number,
      ...(p.label ? { label: p.label } : {}),
    }));
  if (address !== undefined)
    input.address =
      address && Object.fromEntries(ADDRESS_PARTS.map((part) => [part, address[part] ?? null]));
  if (tags !== undefined) input.tags = tags;
  return input;
}
