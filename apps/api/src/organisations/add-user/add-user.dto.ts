import { ROLES, type Role } from '@beecastle/domain';
import { Transform } from 'class-transformer';
import { IsEmail, IsIn, IsString, MaxLength } from 'class-validator';

export class AddUserDto {
  // One spelling of an address everywhere: trimmed, lower case.
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  )
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  readonly email!: string;

  @IsString()
  @MaxLength(200)
  readonly name!: string;

  @IsIn(ROLES)
  readonly role!: Role;

  // The policy (length, common passwords) is checked by the handler, for new accounts only.
  @IsString()
  @MaxLength(1024)
  readonly password!: string;
}
