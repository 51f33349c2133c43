import { INTERACTION_TYPES, type InteractionType } from '@beecastle/domain';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { InteractionFieldsDto } from '../interaction-fields.dto';

/** A partial update: the fields present are set (null clears one), the others stay. */
export class UpdateInteractionDto extends InteractionFieldsDto {
  @ApiPropertyOptional({ enum: INTERACTION_TYPES, example: 'meeting' })
  @IsOptional()
  @IsIn(INTERACTION_TYPES)
  readonly type?: InteractionType;
}
