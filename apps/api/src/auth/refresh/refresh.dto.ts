import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';

export class RefreshDto {
  @ApiProperty({
    description: 'The refresh token of the last pair; spent by this call.',
    maxLength: 256,
    example: 'bcr_zM9bvXbDwMpKwMV4jaoILRgsdGFxiYEuPAnJre5R474cVMuOreaE_JI4PwVjZfZY',
  })
  @IsString()
  @MaxLength(256)
  readonly refreshToken!: string;
}
