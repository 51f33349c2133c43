import { createTestDatabase, type TestDatabase } from './testing/test-database';
import { assertTestDatabaseName } from './testing/test-database';

describe('test databases', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('connects as the application role, which is no superuser and cannot bypass RLS', async () => {
    const { rows } = await db.app.query<{ user: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT current_user AS user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    expect(rows[0]).toEqual({ user: 'beecastle_app_login', rolsuper: false, rolbypassrls: false });
  });

  it('refuses a database whose name does not mark it as a test one', () => {
    expect(() => assertTestDatabaseName('beecastle')).toThrow(/not mark it as a test database/);
    expect(() => assertTestDatabaseName('contest')).toThrow();
    expect(() => assertTestDatabaseName('beecastle_test_ab12')).not.toThrow();
  });

  it('gives the application role no right to create objects', async () => {
    await expect(db.app.query('CREATE TABLE sneaky (id int)')).rejects.toThrow(/permission denied/);
  });
});
