import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

// A full timestamp with its offset: a bare date or local time would be read in the server's zone.
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)$/;

/** The query string of GET /v1/contacts/{id}, as sent (strings). */
export class GetContactDto {
  @ApiPropertyOptional({
    description: 'Answer the contact as it stood at this moment (ISO 8601 with a time zone).',
    format: 'date-time',
    example: '2026-01-31T12:00:00Z',
  })
  @IsOptional()
  @Matches(TIMESTAMP, { message: 'asOf must be an ISO 8601 timestamp with a time zone' })
  asOf?: string;
}

/**
 * The moment `asOf` names, or undefined when it names none (30 February: Date would roll it over
 * into March rather than refuse it).
 */
export function asOfInstant(value: string): Date | undefined {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number);
  const calendar = new Date(Date.UTC(year, month - 1, day));
  const exists = calendar.getUTCMonth() === month - 1 && calendar.getUTCDate() === day;
  const instant = new Date(value);
  return exists && !Number.isNaN(instant.getTime()) ? instant : undefined;
}
