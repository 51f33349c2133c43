import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, startEmbeddedPostgres } from '../../libs/database/src/embedded-postgres';
import { runMigrations } from '../../libs/database/src/migrate';
import { provisionDatabase } from '../../libs/database/src/provision';
import {
  LOOPBACK_NAMES,
  ensureLocalCertificateAuthority,
  ensureServerCertificate,
} from '../../libs/runtime/src/local-certificate-authority';
import {
  TEST_ENV_VARIABLE,
  assertTestDatabaseName,
  type TestDatabaseEnvironment,
} from '../../libs/database/src/testing/test-database';

/**
 * One PostgreSQL for the whole run: a throwaway embedded cluster over TLS (random free port,
 * temporary directory with its own CA, deleted at the end), or the server in TEST_DATABASE_URL
 * (a superuser URL whose database name must mark it as a test one). Migrations run once into a
 * template that every test file clones.
 */
export default async function globalSetup(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'beecastle-test-'));
  const secretsDir = join(workDir, 'secrets');
  let superuserUrl: string;
  let template: string;
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    const url = new URL(external);
    const database = url.pathname.replace(/^\//, '');
    assertTestDatabaseName(database);
    superuserUrl = external;
    template = `${database}_template`;
  } else {
    // TLS only and verified, as `npm start` runs it: every test connection goes through the
    // certificate checks production depends on.
    const ca = await ensureLocalCertificateAuthority(join(workDir, 'tls'));
    const certificate = await ensureServerCertificate(ca, 'postgres', LOOPBACK_NAMES);
    const server = await startEmbeddedPostgres({
      clusterDir: join(workDir, 'cluster'),
      secretsDir,
      port: await freePort(),
      persistent: false,
      tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile: ca.certFile },
    });
    (globalThis as { __BEECASTLE_PG__?: unknown }).__BEECASTLE_PG__ = { server, workDir };
    superuserUrl = server.superuserUrl;
    template = 'beecastle_test_template';
  }
  assertTestDatabaseName(template);
  const admin = new Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const { ownerUrl } = await provisionDatabase(superuserUrl, template, secretsDir);
  await runMigrations(ownerUrl);
  const env: TestDatabaseEnvironment = {
    superuserUrl,
    template,
    ownerPassword: (await readFile(join(secretsDir, 'postgres-owner'), 'utf8')).trim(),
    appPassword: (await readFile(join(secretsDir, 'postgres-app'), 'utf8')).trim(),
  };
  process.env[TEST_ENV_VARIABLE] = JSON.stringify(env);
}
