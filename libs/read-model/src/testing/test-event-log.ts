import type { Pool } from 'pg';
import type { PostgresEventStoreOptions } from '@beecastle/event-store';
import { testMasterKeyProvider } from '../../../crypto/src/testing/test-master-key';
import { openEventLog, type EventLog } from '../event-log';

/**
 * The event log as the product opens it (encrypted), under the test master key that the API,
 * projector and CLI of a test share: for tests that read or write what they read or write.
 */
export function openTestEventLog(pool: Pool, options: PostgresEventStoreOptions = {}): EventLog {
  return openEventLog(pool, { ...options, masterKey: testMasterKeyProvider() });
}
