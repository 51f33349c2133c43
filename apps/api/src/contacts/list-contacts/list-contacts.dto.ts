import { CONTACT_LIMITS } from '@beecastle/domain';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { CONTACT_CURSOR_MAX_LENGTH, CONTACT_SORTS, type ContactSort } from './contact-list';

// Longer than any name, email or company the list could match.
const Q_MAX_LENGTH = 200;

/** The query string of GET /v1/contacts, as sent (strings); `contactListOf` converts it. */
export class ListContactsDto {
  @ApiPropertyOptional({
    description:
      'A case-insensitive fragment of the name, an email or the company (accents ignored; `%` and `_` are plain characters).',
    maxLength: Q_MAX_LENGTH,
    example: 'lovel',
  })
  @IsOptional()
  @IsString({ message: 'q must be a string' })
  @MaxLength(Q_MAX_LENGTH, { message: `q must be at most ${Q_MAX_LENGTH} characters` })
  q?: string;

  @ApiPropertyOptional({
    description: 'Only contacts with this tag (exact, case-sensitive).',
    maxLength: CONTACT_LIMITS.tagLength,
    example: 'vip',
  })
  @IsOptional()
  @IsString({ message: 'tag must be a string' })
  @MaxLength(CONTACT_LIMITS.tagLength, {
    message: `tag must be at most ${CONTACT_LIMITS.tagLength} characters`,
  })
  tag?: string;

  @ApiPropertyOptional({
    description: 'Only contacts of this company (case-insensitive, whole name).',
    maxLength: CONTACT_LIMITS.companyLength,
    example: 'Analytical Engines',
  })
  @IsOptional()
  @IsString({ message: 'company must be a string' })
  @MaxLength(CONTACT_LIMITS.companyLength, {
    message: `company must be at most ${CONTACT_LIMITS.companyLength} characters`,
  })
  company?: string;

  @ApiPropertyOptional({
    description: 'Archived contacts instead of live ones.',
    enum: ['true', 'false'],
    default: 'false',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'archived must be true or false' })
  archived?: string;

  @ApiPropertyOptional({
    description: 'The order; `-` for descending. Ties are broken by id.',
    enum: CONTACT_SORTS,
    default: 'name',
  })
  @IsOptional()
  @IsIn(CONTACT_SORTS, { message: `sort must be one of ${CONTACT_SORTS.join(', ')}` })
  sort?: string;

  @ApiPropertyOptional({ description: 'Page size, 1–200.', default: 50, example: '50' })
  @IsOptional()
  @Matches(/^(?:[1-9]|[1-9]\d|1\d\d|200)$/, { message: 'limit must be an integer from 1 to 200' })
  limit?: string;

  @ApiPropertyOptional({
    description: 'The `nextCursor` of the previous page, with the same filters and sort.',
    maxLength: CONTACT_CURSOR_MAX_LENGTH,
  })
  @IsOptional()
  @IsString({ message: 'cursor must be a string' })
  @MaxLength(CONTACT_CURSOR_MAX_LENGTH, { message: 'cursor is not one this API gave' })
  cursor?: string;
}

const DEFAULT_LIMIT = 50;

export interface ContactListRequest {
  readonly filter: {
    readonly q: string | undefined;
    readonly tag: string | undefined;
    readonly company: string | undefined;
    readonly archived: boolean;
  };
  readonly sort: ContactSort;
  readonly limit: number;
  readonly cursor: string | undefined;
}

/** The validated query as the list reads it; an empty `q` is no search. */
export function contactListOf(query: ListContactsDto): ContactListRequest {
  return {
    filter: {
      q: query.q === '' ? undefined : query.q,
      tag: query.tag,
      company: query.company,
      archived: query.archived === 'true',
    },
    sort: (query.sort ?? 'name') as ContactSort,
    limit: query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit),
    cursor: query.cursor,
  };
}
