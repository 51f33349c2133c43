import { randomBytes } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { createPool } from '../pool';
import { APP_LOGIN_ROLE, OWNER_ROLE, lockDownDatabase, quoteIdent } from '../provision';

/**
 * Written by test/setup/global-setup.ts for the workers: a superuser URL on the test server, the
 * migrated template to clone, and the role passwords.
 */
export interface TestDatabaseEnvironment {
  readonly superuserUrl: string;
  readonly template: string;
  readonly ownerPassword: string;
  readonly appPassword: string;
}

export const TEST_ENV_VARIABLE = 'BEECASTLE_TEST_DATABASE_ENV';

/** Tests never touch a database whose name does not say it is one. */
export function assertTestDatabaseName(name: string): void {
  if (!/(^|_)test(_|$)/.test(name)) {
    throw new Error(
      `Refusing to run tests against database ${JSON.stringify(name)}: its name does not mark it as a test database`,
    );
  }
}

export interface TestDatabase {
  readonly name: string;
  readonly appUrl: string;
  readonly ownerUrl: string;
  /** The application role's pool (what the product uses). */
  readonly app: Pool;
  /** The schema owner's pool, for white-box assertions and tampering. */
  readonly owner: Pool;
  drop(): Promise<void>;
}

function environment(): TestDatabaseEnvironment {
  const raw = process.env[TEST_ENV_VARIABLE];
  if (!raw)
    throw new Error('No test database: run the tests through jest (test/setup/global-setup.ts)');
  return JSON.parse(raw) as TestDatabaseEnvironment;
}

function withCredentials(base: string, user: string, password: string, database: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, migrated database of its own for one test file, cloned from the template in ~50 ms. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const env = environment();
  const name = `${env.template.replace(/_template$/, '')}_${randomBytes(5).toString('hex')}`;
  assertTestDatabaseName(name);
  const admin = new Client({ connectionString: env.superuserUrl });
  await admin.connect();
  try {
    await admin.query(
      `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(env.template)} OWNER ${OWNER_ROLE}`,
    );
  } finally {
    await admin.end();
  }
  await lockDownDatabase(env.superuserUrl, name);
  const appUrl = withCredentials(env.superuserUrl, APP_LOGIN_ROLE, env.appPassword, name);
  const ownerUrl = withCredentials(env.superuserUrl, OWNER_ROLE, env.ownerPassword, name);
  const app = createPool(appUrl, { applicationName: 'beecastle-test-app', max: 12 });
  const owner = createPool(ownerUrl, { applicationName: 'beecastle-test-owner', max: 4 });
  return {
    name,
    appUrl,
    ownerUrl,
    app,
    owner,
    drop: async () => {
      await Promise.all([app.end(), owner.end()]);
      const client = new Client({ connectionString: env.superuserUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
