import {
  CONTACT_LIMITS,
  INTERACTION_DIRECTIONS,
  INTERACTION_FIELDS,
  type InteractionDirection,
  type InteractionField,
  type InteractionFields,
} from '@beecastle/domain';
import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { Trimmed } from './contact-fields.dto';

/** An interaction's fields but its type: shared by logging one and updating one. */
export class InteractionFieldsDto {
  @ApiPropertyOptional({
    description: 'An instant with Z or an offset; stored in UTC. Defaults to now when logged.',
    format: 'date-time',
    example: '2025-03-14T09:30:00Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  readonly occurredAt?: string | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.subjectLength,
    nullable: true,
    example: 'Quarterly review',
  })
  @IsOptional()
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.subjectLength)
  readonly subject?: string | null;

  @ApiPropertyOptional({
    maxLength: CONTACT_LIMITS.bodyLength,
    nullable: true,
    example: 'Discussed the renewal; send the proposal by Friday.',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(CONTACT_LIMITS.bodyLength)
  readonly body?: string | null;

  @ApiPropertyOptional({ enum: INTERACTION_DIRECTIONS, nullable: true, example: 'outbound' })
  @IsOptional()
  @IsIn(INTERACTION_DIRECTIONS)
  readonly direction?: InteractionDirection | null;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: CONTACT_LIMITS.maxDurationSeconds,
    nullable: true,
    example: 900,
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(CONTACT_LIMITS.maxDurationSeconds)
  readonly durationSeconds?: number | null;

  @ApiPropertyOptional({
    description: 'Tasks only.',
    format: 'date-time',
    nullable: true,
    example: '2025-03-21T17:00:00Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  readonly dueAt?: string | null;

  @ApiPropertyOptional({
    description: 'Tasks only; a task is not done until said so.',
    nullable: true,
    example: false,
  })
  @IsOptional()
  @IsBoolean()
  readonly completed?: boolean | null;
}

/** The fields present, as the domain takes them (absent stays absent, null stays null). */
export function toInteractionInput(dto: InteractionFieldsDto & { readonly type?: unknown }): {
  [K in InteractionField]?: InteractionFields[K] | null;
} {
  const given: Partial<Record<InteractionField, unknown>> = {};
  for (const key of INTERACTION_FIELDS) {
    if (dto[key] !== undefined) given[key] = dto[key];
  }
  return given as { [K in InteractionField]?: InteractionFields[K] | null };
}
