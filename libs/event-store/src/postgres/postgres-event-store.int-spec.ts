import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { describeEventStoreContract } from '../contract/event-store.contract';
import { PostgresEventStore } from './postgres-event-store';

// Real PostgreSQL on a possibly loaded machine: waits are for conditions, with generous deadlines.
jest.setTimeout(30_000);

// One database for the file, as in production: the log is shared and already holds other tests'
// events. Each test gets a store of its own (and with it a LISTEN connection) on the app role.
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

describeEventStoreContract('PostgreSQL, a fresh store per test on one database', () => {
  const store = new PostgresEventStore(db.app, { pollIntervalMs: 100 });
  return Promise.resolve({ store, teardown: () => store.close() });
});

describeEventStoreContract('PostgreSQL, small pages', () => {
  // Pages of two make every read and subscription cross page boundaries.
  const store = new PostgresEventStore(db.app, { pollIntervalMs: 100, pageSize: 2 });
  return Promise.resolve({ store, teardown: () => store.close() });
});
