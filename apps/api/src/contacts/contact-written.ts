/** What every contact write answers: the record's id and the contact's version (its ETag). */
export interface ContactWritten {
  readonly id: string;
  readonly version: number;
}
