import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from './migrations';

// Two instances starting at once must not both migrate: they queue on this advisory lock.
const MIGRATION_LOCK_KEY = 0x62656563; // 'beec'

/** Runs pending migrations as the schema owner, each in its own transaction. Returns their names. */
export async function runMigrations(ownerUrl: string): Promise<string[]> {
  const lock = new Client({
    connectionString: ownerUrl,
    application_name: 'beecastle-migrate-lock',
  });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const dataSource = new DataSource({
      type: 'postgres',
      url: ownerUrl,
      applicationName: 'beecastle-migrate',
      migrations: MIGRATIONS,
      migrationsTableName: 'schema_migrations',
      migrationsTransactionMode: 'each',
      logging: false,
    });
    await dataSource.initialize();
    try {
      const ran = await dataSource.runMigrations({ transaction: 'each' });
      return ran.map((m) => m.name);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.end();
  }
}
