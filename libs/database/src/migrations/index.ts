import type { MigrationInterface } from 'typeorm';

/**
 * Versioned schema changes, applied in this order at start by the schema owner. Never edit one that
 * has shipped: add another. Class names end in a timestamp, as TypeORM requires.
 */
export const MIGRATIONS: (new () => MigrationInterface)[] = [];
