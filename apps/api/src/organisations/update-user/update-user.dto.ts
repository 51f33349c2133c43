import { ROLES, type Role } from '@beecastle/domain';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

export class UpdateUserDto {
  @ApiPropertyOptional({ enum: ROLES, example: 'admin' })
  @IsOptional()
  @IsIn(ROLES)
  readonly role?: Role;

  @ApiPropertyOptional({ maxLength: 200, example: 'Grace Brewster Hopper' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  readonly name?: string;
}
