import { ROLES, type Role } from '@beecastle/domain';
import { IsIn, IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';

export class IssueApiKeyDto {
  @IsString()
  @MaxLength(200)
  readonly name!: string;

  @IsIn(ROLES)
  readonly role!: Role;

  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  readonly expiresAt?: string;
}
