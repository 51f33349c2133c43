import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * The two roles of every deployment. The owner holds the schema and runs migrations; the
 * application role (a NOLOGIN group that login roles join) owns nothing, has no BYPASSRLS, and on the
 * event log may only INSERT and SELECT. Migrations grant to the group, so an operator's own login
 * role works once it is a member.
 */
export const OWNER_ROLE = 'beecastle_owner';
export const APP_GROUP_ROLE = 'beecastle_app';
export const APP_LOGIN_ROLE = 'beecastle_app_login';

export interface ProvisionedDatabase {
  readonly ownerUrl: string;
  readonly appUrl: string;
}

async function secret(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const value = randomBytes(24).toString('base64url');
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  return value;
}

function urlFor(base: string, user: string, password: string, database: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates (or brings up to date) the roles and the database on a server where we hold a
 * superuser: the embedded one, or a test server. Idempotent. Passwords live in `secretsDir`.
 */
export async function provisionDatabase(
  superuserUrl: string,
  database: string,
  secretsDir: string,
): Promise<ProvisionedDatabase> {
  const ownerPassword = await secret(secretsDir, 'postgres-owner');
  const appPassword = await secret(secretsDir, 'postgres-app');
  const client = new Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    await ensureRoles(client, ownerPassword, appPassword);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await client.query(
        `CREATE DATABASE ${quoteIdent(database)} OWNER ${OWNER_ROLE} ENCODING 'UTF8' TEMPLATE template0`,
      );
    }
    await lockDownDatabase(superuserUrl, database);
  } finally {
    await client.end();
  }
  return {
    ownerUrl: urlFor(superuserUrl, OWNER_ROLE, ownerPassword, database),
    appUrl: urlFor(superuserUrl, APP_LOGIN_ROLE, appPassword, database),
  };
}

export async function ensureRoles(
  client: Client,
  ownerPassword: string,
  appPassword: string,
): Promise<void> {
  // Role DDL cannot take bind parameters; the passwords are generated base64url, the names constants.
  await client.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${OWNER_ROLE}') THEN
        CREATE ROLE ${OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
        CREATE ROLE ${APP_GROUP_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_LOGIN_ROLE}') THEN
        CREATE ROLE ${APP_LOGIN_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE ${APP_GROUP_ROLE};
      END IF;
    END $$;`);
  await client.query(`ALTER ROLE ${OWNER_ROLE} PASSWORD '${ownerPassword}'`);
  await client.query(`ALTER ROLE ${APP_LOGIN_ROLE} PASSWORD '${appPassword}'`);
}

/** Nobody but the owner creates objects; the application may only connect and use the schema. */
export async function lockDownDatabase(superuserUrl: string, database: string): Promise<void> {
  const url = new URL(superuserUrl);
  url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
    await client.query(
      `GRANT CONNECT, TEMPORARY ON DATABASE ${quoteIdent(database)} TO ${APP_GROUP_ROLE}`,
    );
    await client.query(`ALTER SCHEMA public OWNER TO ${OWNER_ROLE}`);
    await client.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${APP_GROUP_ROLE}`);
    // Under forced row-level security the planner uses a condition as an index condition only if
    // its function is LEAKPROOF, so `?q=` (search_text LIKE pattern) could not use the trigram
    // index and scanned the organisation's rows. textlike's only errors are about the pattern
    // (the caller's own input), never about the row it is compared with, so it reveals nothing of
    // rows the policy hides. Per database, and only a superuser may say so: hence here.
    await client.query(`ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF`);
    // The same for `?tag=` (tags @> ARRAY[tag], on the GIN index contacts_tags): a rare tag was
    // sought through every contact of the organisation. arraycontains' only errors are about the
    // two arrays' types (different element types, no equality for them), never about a value,
    // and the equality it applies to text is texteq, itself LEAKPROOF. A table of tags kept by
    // triggers (reverted in f8caffb) did the same at 20-32 µs a projected contact, which the
    // projector under load turned into lag.
    await client.query(`ALTER FUNCTION pg_catalog.arraycontains(anyarray, anyarray) LEAKPROOF`);
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw new Error(`Refusing unusual identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}
