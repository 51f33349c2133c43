import { ROLES, type Role } from '@beecastle/domain';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

export class UpdateUserDto {
  @IsOptional()
  @IsIn(ROLES)
  readonly role?: Role;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  readonly name?: string;
}
