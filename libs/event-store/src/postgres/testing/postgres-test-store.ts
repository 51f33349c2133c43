import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../database/src/testing/test-database';
import { PostgresEventStore, type PostgresEventStoreOptions } from '../postgres-event-store';

export interface PostgresTestStore {
  /** A fresh migrated database of this describe block's own. */
  readonly db: TestDatabase;
  /** A store on the application role's pool (what the product uses). */
  readonly store: PostgresEventStore;
}

/**
 * Declares the beforeAll/afterAll of a describe block that needs a real log: its properties are
 * there from the first test on, and the store and database go away after the last.
 */
export function usePostgresTestStore(options?: PostgresEventStoreOptions): PostgresTestStore {
  let db: TestDatabase | undefined;
  let store: PostgresEventStore | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.app, options);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('usePostgresTestStore: used outside a test');
    return value;
  };
  return {
    get db() {
      return ready(db);
    },
    get store() {
      return ready(store);
    },
  };
}
