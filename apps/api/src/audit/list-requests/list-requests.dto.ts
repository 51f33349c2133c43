import { normaliseClientIp, type RequestLogFilter } from '@beecastle/audit';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIP, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';

// A full timestamp with its offset: a bare date or local time would be read in the server's zone.
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)$/;

/** The query string of GET /v1/audit/requests, as sent (strings); the controller converts it. */
export class ListRequestsDto {
  @ApiPropertyOptional({
    description: 'Requests made as this member.',
    format: 'uuid',
    example: '5f0c8a4e-2d3b-4c1a-9e7f-6a5b4c3d2e1f',
  })
  @IsOptional()
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @ApiPropertyOptional({
    description: 'The client address (IPv4 or IPv6).',
    example: '203.0.113.7',
  })
  @IsOptional()
  @IsIP(undefined, { message: 'ip must be an IPv4 or IPv6 address' })
  ip?: string;

  @ApiPropertyOptional({
    description: "The answer's HTTP status.",
    type: 'integer',
    minimum: 100,
    maximum: 599,
    example: 403,
  })
  @IsOptional()
  @Matches(/^[1-5]\d\d$/, { message: 'status must be an HTTP status code (100-599)' })
  status?: string;

  @ApiPropertyOptional({
    description: 'From this moment on (inclusive); ISO 8601 with a time zone.',
    format: 'date-time',
    example: '2026-01-01T00:00:00Z',
  })
  @IsOptional()
  @Matches(TIMESTAMP, { message: 'from must be an ISO 8601 timestamp with a time zone' })
  from?: string;

  @ApiPropertyOptional({
    description: 'Up to this moment (inclusive); ISO 8601 with a time zone.',
    format: 'date-time',
    example: '2026-01-31T23:59:59Z',
  })
  @IsOptional()
  @Matches(TIMESTAMP, { message: 'to must be an ISO 8601 timestamp with a time zone' })
  to?: string;

  @ApiPropertyOptional({
    description: 'The opaque `nextCursor` of the previous page, with the same filters.',
    maxLength: 300,
    example: 'eyJ0IjoiMjAyNi0wMS0zMVQxMjowMDowMC4wMDBaIiwiaWQiOjQyfQ.3q2-7w',
  })
  @IsOptional()
  @IsString({ message: 'cursor must be a string' })
  @MaxLength(300, { message: 'cursor is not one this API gave' })
  cursor?: string;

  @ApiPropertyOptional({
    description: 'Page size.',
    type: 'integer',
    minimum: 1,
    maximum: 200,
    default: 50,
    example: 50,
  })
  @IsOptional()
  @Matches(/^(?:[1-9]|[1-9]\d|1\d\d|200)$/, { message: 'limit must be an integer from 1 to 200' })
  limit?: string;
}

/** A timestamp that names a real moment (Date would roll 30 February over into March), or NaN. */
function instant(value: string): Date {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number);
  const calendar = new Date(Date.UTC(year, month - 1, day));
  const exists = calendar.getUTCMonth() === month - 1 && calendar.getUTCDate() === day;
  return exists ? new Date(value) : new Date(Number.NaN);
}

/** The validated query as the request log reads it; the fields at fault when dates do not fit. */
export function requestLogQueryOf(
  query: ListRequestsDto,
  defaultLimit: number,
): { filter: RequestLogFilter; limit: number } | { invalid: string[] } {
  const from = query.from === undefined ? undefined : instant(query.from);
  const to = query.to === undefined ? undefined : instant(query.to);
  const invalid = Object.entries({ from, to })
    .filter(([, date]) => date !== undefined && Number.isNaN(date.getTime()))
    .map(([field]) => field);
  if (invalid.length === 0 && from && to && from > to) invalid.push('from', 'to');
  if (invalid.length > 0) return { invalid };
  return {
    filter: {
      userId: query.userId?.toLowerCase(),
      // Stored as the writer stores it: an IPv4-mapped IPv6 address as plain IPv4.
      ip: normaliseClientIp(query.ip),
      status: query.status === undefined ? undefined : Number(query.status),
      from,
      to,
    },
    limit: query.limit === undefined ? defaultLimit : Number(query.limit),
  };
}
