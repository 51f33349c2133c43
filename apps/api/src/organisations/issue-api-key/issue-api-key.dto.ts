import { ROLES, type Role } from '@beecastle/domain';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';

export class IssueApiKeyDto {
  @ApiProperty({ maxLength: 200, example: 'CRM sync' })
  @IsString()
  @MaxLength(200)
  readonly name!: string;

  @ApiProperty({
    description: "The key acts with this role, never above its creator's.",
    enum: ROLES,
    example: 'editor',
  })
  @IsIn(ROLES)
  readonly role!: Role;

  @ApiPropertyOptional({
    description: 'When the key stops working; never, if absent.',
    format: 'date-time',
    example: '2027-01-31T00:00:00.000Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  readonly expiresAt?: string;
}
