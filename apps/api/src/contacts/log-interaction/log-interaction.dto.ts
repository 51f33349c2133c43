import { INTERACTION_TYPES, type InteractionType } from '@beecastle/domain';
import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { InteractionFieldsDto } from '../interaction-fields.dto';

export class LogInteractionDto extends InteractionFieldsDto {
  @ApiProperty({ enum: INTERACTION_TYPES, example: 'call' })
  @IsIn(INTERACTION_TYPES)
  readonly type!: InteractionType;
}
