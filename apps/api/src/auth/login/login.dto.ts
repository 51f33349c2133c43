import { IsOptional, IsString, IsUUID, MaxLength, MinLength } from 'class-validator';

export class LoginDto {
  // Not checked as an address: it is normalised and looked up, and anything that is not an
  // account's email fails like an unknown one.
  @IsString()
  @MinLength(1)
  @MaxLength(320)
  readonly email!: string;

  // Length-bounded so that nobody can make the server hash megabytes; the policy's own checks apply
  // when a password is set, not here.
  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  readonly password!: string;

  @IsOptional()
  @IsUUID()
  readonly organisationId?: string;
}
