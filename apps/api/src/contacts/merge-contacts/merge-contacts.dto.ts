import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsUUID } from 'class-validator';

/** Merges `sourceId` into the contact in the path (the target). */
export class MergeContactsDto {
  @ApiProperty({
    description: 'The contact merged away: archived as merged into the target.',
    format: 'uuid',
    example: '6a1f0c9e-2b3d-4e5f-8a7b-9c0d1e2f3a4b',
  })
  @IsUUID()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  )
  readonly sourceId!: string;
}
