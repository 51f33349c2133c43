import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@beecastle/database';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../libs/database/src/testing/test-database';
import { runCli } from '../../apps/cli/src/cli';
import { ExitCode } from '../../apps/cli/src/exit-codes';
import { capturedIo } from '../../apps/cli/src/testing/captured-io';
import { TEST_MASTER_KEY_BASE64 } from '../../libs/crypto/src/testing/test-master-key';
import { httpsRequest } from './support/https-request';

const ROOT = resolve(__dirname, '../..');
const started: ChildProcessWithoutNullStreams[] = [];

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** apps/api/src/main.ts as its own process (compiled on the fly), as `npm start` runs it. */
function startApiProcess(env: Record<string, string>): {
  child: ChildProcessWithoutNullStreams;
  output: () => { stdout: string; stderr: string };
  exited: Promise<Exit>;
} {
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      '-r',
      'tsconfig-paths/register',
      'apps/api/src/main.ts',
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } },
  );
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exit>((done) =>
    child.on('exit', (code) => done({ code, stdout, stderr })),
  );
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Resolves when the banner appears (the server is listening), or fails if the process dies first. */
function listening(api: ReturnType<typeof startApiProcess>): Promise<void> {
  return new Promise((done, fail) => {
    const check = () => {
      if (api.output().stderr.includes('BeeCastle API listening on')) done();
    };
    api.child.stderr.on('data', check);
    void api.exited.then((exit) => fail(new Error(`exited early: ${exit.stderr}`)));
  });
}

const fingerprint = (banner: string) => /SHA-256 ([0-9A-F:]+)/.exec(banner)?.[1];

describe('the API process', () => {
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'beecastle-process-'));
  });
  afterAll(async () => {
    // A failed assertion must not leave a server behind.
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a bad configuration: each problem on its own line, exit 1, no stack trace', async () => {
    const exit = await startApiProcess({
      DATA_DIR: dataDir,
      PORT: 'eighty',
      TRUSTED_PROXIES: 'everyone',
    }).exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr.trimEnd().split('\n')).toEqual([
      'Invalid configuration:',
      '  - PORT must be a whole number from 1 to 65535 (got "eighty")',
      '  - TRUSTED_PROXIES entry "everyone" is not an IP address or CIDR range',
    ]);
    expect(exit.stdout).toBe('');
  });

  it('serves HTTPS, prints its banner, and on SIGTERM shuts down, logs it and exits 0', async () => {
    const port = await freePort();
    const api = startApiProcess({
      DATA_DIR: dataDir,
      PORT: String(port),
      DATABASE_URL: db.appUrl,
      MASTER_KEY: TEST_MASTER_KEY_BASE64,
    });
    await listening(api);
    const { stderr } = api.output();
    expect(stderr).toContain(`BeeCastle API listening on https://127.0.0.1:${port}`);
    expect(stderr).toContain(`TLS certificate:  ${join(dataDir, 'tls', 'api-cert.pem')}`);
    expect(stderr).toContain(`trust this CA:    ${join(dataDir, 'tls', 'ca.pem')}`);
    expect(stderr).toContain(`data directory:   ${dataDir}`);
    const ca = await readFile(join(dataDir, 'tls', 'ca.pem'));
    const ready = await httpsRequest(`https://127.0.0.1:${port}/health/ready`, { ca });
    expect(ready.status).toBe(200);

    api.child.kill('SIGTERM');
    const exit = await api.exited;
    // On failure, show what the process said rather than just its exit code.
    expect({ code: exit.code, stderr: exit.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error/i),
    });
    const messages = exit.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    // The readiness request's own log line may land on either side of the shutdown lines (it is
    // written when the response finishes); it must be there, and the lifecycle must end the log.
    expect(messages).toContain('request');
    expect(messages.filter((m) => m !== 'request').slice(-2)).toEqual(['shutting down', 'stopped']);
  });

  it('fails closed, saying why, without a master key or with one that is not the database’s', async () => {
    const port = await freePort();
    const missing = await startApiProcess({
      DATA_DIR: dataDir,
      PORT: String(port),
      DATABASE_URL: db.appUrl,
    }).exited;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^Invalid configuration:\n {2}- MASTER_KEY is required when DATABASE_URL is set/,
    );

    // The test key sealed this database (the API above, or this one now, registers it first).
    const right = startApiProcess({
      DATA_DIR: dataDir,
      PORT: String(port),
      DATABASE_URL: db.appUrl,
      MASTER_KEY: TEST_MASTER_KEY_BASE64,
    });
    await listening(right);
    right.child.kill('SIGTERM');
    expect((await right.exited).code).toBe(0);

    const wrong = await startApiProcess({
      DATA_DIR: dataDir,
      PORT: String(port),
      DATABASE_URL: db.appUrl,
      MASTER_KEY: randomBytes(32).toString('base64'),
    }).exited;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /^BeeCastle API cannot start: The master key \(MASTER_KEY, id local:[0-9a-f]{32}\) is not the one this database's keys are sealed with \(id local:[0-9a-f]{32}\)\. Start with the MASTER_KEY that sealed them/,
    );
    expect(wrong.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('with no DATABASE_URL, runs its embedded PostgreSQL under DATA_DIR, stops it on exit, and finds cluster and schema again on restart', async () => {
    const embeddedDir = await mkdtemp(join(tmpdir(), 'beecastle-embedded-'));
    const env = { DATA_DIR: embeddedDir, PROJECTOR_IN_PROCESS: 'false' };
    const caFile = join(embeddedDir, 'tls', 'ca.pem');
    const cliWhileRunning: string[] = [];
    const runOnce = async (): Promise<Exit> => {
      const port = await freePort();
      const api = startApiProcess({ ...env, PORT: String(port) });
      await listening(api);
      const ca = await readFile(caFile);
      expect((await httpsRequest(`https://127.0.0.1:${port}/health/ready`, { ca })).status).toBe(
        200,
      );
      // The CLI joins the running cluster, verifying its certificate against the same CA.
      const io = capturedIo(env);
      expect(await runCli(['migrate'], io)).toBe(ExitCode.Ok);
      cliWhileRunning.push(io.err);
      api.child.kill('SIGTERM');
      return api.exited;
    };
    try {
      const first = await runOnce();
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('Embedded PostgreSQL started on 127.0.0.1:');
      expect(first.stdout).toContain(`TLS only, verified against ${caFile}`);
      expect(first.stderr).toContain(`trust this CA:    ${caFile}`);
      expect(cliWhileRunning[0]).toContain('Joined the embedded PostgreSQL already running');
      expect(first.stdout).toContain('migrations applied');
      expect(fingerprint(first.stderr)).toMatch(/^[0-9A-F:]{95}$/);
      // The development master key: made on first start, said so, readable by its owner only.
      const keyFile = join(embeddedDir, 'keys', 'master.key');
      expect(first.stderr).toContain(`master key:       ${keyFile} (generated now, mode 0600`);
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

      const second = await runOnce();
      expect(second.code).toBe(0);
      // The same cluster and schema, found again under DATA_DIR: nothing left to migrate, and the
      // same certificate from the same local CA.
      expect(second.stdout).toContain('Embedded PostgreSQL started');
      expect(second.stdout).not.toContain('migrations applied');
      expect(fingerprint(second.stderr)).toBe(fingerprint(first.stderr));
      expect(second.stderr).toContain(`master key:       ${keyFile} (development key;`);
    } finally {
      await rm(embeddedDir, { recursive: true, force: true });
    }
  });
});
