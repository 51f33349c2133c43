import { ROLES, type Role } from '@beecastle/domain';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsIn, IsString, MaxLength } from 'class-validator';

export class AddUserDto {
  // One spelling of an address everywhere: trimmed, lower case.
  @ApiProperty({
    description: 'Trimmed and lower-cased.',
    format: 'email',
    maxLength: 254,
    example: 'grace@example.com',
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  )
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  readonly email!: string;

  @ApiProperty({ maxLength: 200, example: 'Grace Hopper' })
  @IsString()
  @MaxLength(200)
  readonly name!: string;

  @ApiProperty({ enum: ROLES, example: 'editor' })
  @IsIn(ROLES)
  readonly role!: Role;

  // The policy (length, common passwords) is checked by the handler, for new accounts only.
  @ApiProperty({
    description: '12–256 characters, not a commonly used password, not the email.',
    maxLength: 1024,
    example: 'a long enough passphrase',
  })
  @IsString()
  @MaxLength(1024)
  readonly password!: string;
}
