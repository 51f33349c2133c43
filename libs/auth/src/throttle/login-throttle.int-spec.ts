import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import { LoginThrottle } from './login-throttle';

describe('login throttle (PostgreSQL)', () => {
  let db: TestDatabase;
  const limits = { accountFailures: 3, ipFailures: 5, windowSeconds: 900 };

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('refuses an account after its allowance of failures, with the time left in the window', async () => {
    const throttle = new LoginThrottle(db.app, limits);
    for (let i = 0; i < 3; i++) {
      await expect(throttle.check('a@example.test', '203.0.113.1')).resolves.toBeUndefined();
      await throttle.recordFailure('a@example.test', '203.0.113.1');
    }
    const refused = await throttle.check('a@example.test', '203.0.113.2');
    expect(refused?.retryAfterSeconds).toBeGreaterThan(890);
    expect(refused?.retryAfterSeconds).toBeLessThanOrEqual(900);
    // Another account is not affected.
    await expect(throttle.check('b@example.test', '203.0.113.2')).resolves.toBeUndefined();
  });

  it('a success clears the account count', async () => {
    const throttle = new LoginThrottle(db.app, limits);
    await throttle.recordFailure('c@example.test', '203.0.113.3');
    await throttle.recordFailure('c@example.test', '203.0.113.3');
    await throttle.recordSuccess('c@example.test');
    await throttle.recordFailure('c@example.test', '203.0.113.3');
    await throttle.recordFailure('c@example.test', '203.0.113.3');
    await expect(throttle.check('c@example.test', '203.0.113.3')).resolves.toBeUndefined();
  });

  it('refuses an IP that fails across many accounts', async () => {
    const throttle = new LoginThrottle(db.app, limits);
    for (let i = 0; i < 5; i++)
      await throttle.recordFailure(`spray-${i}@example.test`, '198.51.100.9');
    await expect(throttle.check('fresh@example.test', '198.51.100.9')).resolves.toMatchObject({
      retryAfterSeconds: expect.any(Number),
    });
    await expect(throttle.check('fresh@example.test', '198.51.100.10')).resolves.toBeUndefined();
  });

  it('counts are shared by every instance (one table), and hold no email or address in clear', async () => {
    const one = new LoginThrottle(db.app, limits);
    const two = new LoginThrottle(db.app, limits);
    await one.recordFailure('shared@example.test', '192.0.2.50');
    await two.recordFailure('shared@example.test', '192.0.2.50');
    await one.recordFailure('shared@example.test', '192.0.2.50');
    await expect(two.check('shared@example.test', '192.0.2.51')).resolves.toBeDefined();
    const { rows } = await db.owner.query<{ key: string }>('SELECT key FROM login_throttle');
    expect(rows.length).toBeGreaterThan(0);
    for (const { key } of rows) {
      expect(key).not.toMatch(/@|192\.0\.2|203\.0\.113/);
    }
  });

  it('a window that has passed starts again', async () => {
    const throttle = new LoginThrottle(db.app, { ...limits, windowSeconds: 1 });
    for (let i = 0; i < 3; i++) await throttle.recordFailure('d@example.test', '203.0.113.4');
    await expect(throttle.check('d@example.test', '203.0.113.4')).resolves.toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await expect(throttle.check('d@example.test', '203.0.113.4')).resolves.toBeUndefined();
  });
});
