import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, MaxLength, MinLength } from 'class-validator';

export class LoginDto {
  // Not checked as an address: it is normalised and looked up, and anything that is not an
  // account's email fails like an unknown one.
  @ApiProperty({ example: 'ada@example.com', minLength: 1, maxLength: 320 })
  @IsString()
  @MinLength(1)
  @MaxLength(320)
  readonly email!: string;

  // Length-bounded so that nobody can make the server hash megabytes; the policy's own checks apply
  // when a password is set, not here.
  @ApiProperty({ example: 'correct horse battery staple', minLength: 1, maxLength: 1024 })
  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  readonly password!: string;

  @ApiPropertyOptional({
    description: 'Which organisation to sign in to, for a member of several.',
    format: 'uuid',
    example: '0b6f3c2e-8f1a-4d8e-9a57-3c1d2e4f5a6b',
  })
  @IsOptional()
  @IsUUID()
  readonly organisationId?: string;
}
