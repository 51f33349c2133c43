import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { INTERACTION_CURSOR_MAX_LENGTH } from './list-interactions.handler';

/** The query string of GET /v1/contacts/{id}/interactions, as sent (strings). */
export class ListInteractionsDto {
  @ApiPropertyOptional({ description: 'Page size, 1–200.', default: 50, example: '50' })
  @IsOptional()
  @Matches(/^(?:[1-9]|[1-9]\d|1\d\d|200)$/, { message: 'limit must be an integer from 1 to 200' })
  limit?: string;

  @ApiPropertyOptional({
    description: 'The `nextCursor` of the previous page of the same contact.',
    maxLength: INTERACTION_CURSOR_MAX_LENGTH,
  })
  @IsOptional()
  @IsString({ message: 'cursor must be a string' })
  @MaxLength(INTERACTION_CURSOR_MAX_LENGTH, { message: 'cursor is not one this API gave' })
  cursor?: string;
}
