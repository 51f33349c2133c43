import { LocalMasterKeyProvider } from '../master-key';

/**
 * The master key every test process shares (API, projector, CLI and direct stores on one test
 * database must agree on it): `MASTER_KEY` in their environments. Never a production key.
 */
export const TEST_MASTER_KEY = Buffer.from(
  'beecastle test master key, 32 b.'.padEnd(32, '.').slice(0, 32),
  'utf8',
);
export const TEST_MASTER_KEY_BASE64 = TEST_MASTER_KEY.toString('base64');

export function testMasterKeyProvider(): LocalMasterKeyProvider {
  return new LocalMasterKeyProvider(TEST_MASTER_KEY, 'the test master key');
}
