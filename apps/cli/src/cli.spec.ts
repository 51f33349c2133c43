import { capturedIo as capture } from './testing/captured-io';
import { parseArguments, runCli } from './cli';
import { ExitCode } from './exit-codes';
import { jsonLine } from './json-line';

const ORG = '7d444840-9dc0-11d1-b245-5ffdce74fad2';

describe('parseArguments', () => {
  it('reads migrate', () => {
    expect(parseArguments(['migrate'])).toEqual({ kind: 'run', command: { name: 'migrate' } });
  });

  it('reads verify for every organisation', () => {
    expect(parseArguments(['verify'])).toEqual({
      kind: 'run',
      command: { name: 'verify', organisationId: undefined },
    });
  });

  it('reads verify --org <uuid>, normalised to lower case', () => {
    expect(parseArguments(['verify', '--org', ORG.toUpperCase()])).toEqual({
      kind: 'run',
      command: { name: 'verify', organisationId: ORG },
    });
    expect(parseArguments([`verify`, `--org=${ORG}`])).toMatchObject({
      command: { organisationId: ORG },
    });
  });

  it.each([
    ['no command', []],
    ['an unknown command', ['rebuild-everything']],
    ['an organisation id that is not a UUID', ['verify', '--org', 'acme']],
    ['--org without its value', ['verify', '--org']],
    ['an unknown option', ['verify', '--fix']],
    ['a stray argument', ['migrate', 'now']],
  ])('refuses %s with exit code 2 and says why on stderr', (_name, args) => {
    const parsed = parseArguments(args);
    expect(parsed).toMatchObject({ kind: 'exit', exitCode: ExitCode.Usage, stdout: '' });
    expect(parsed.kind === 'exit' && parsed.stderr.length).toBeGreaterThan(0);
  });

  it('explains why an organisation id was refused', () => {
    const parsed = parseArguments(['verify', '--org', 'acme']);
    expect(parsed.kind === 'exit' && parsed.stderr).toContain('An organisation id is a UUID.');
  });

  it('prints help on stdout with exit code 0, exit codes included', () => {
    const parsed = parseArguments(['--help']);
    expect(parsed).toMatchObject({ kind: 'exit', exitCode: ExitCode.Ok, stderr: '' });
    expect(parsed.kind === 'exit' && parsed.stdout).toMatch(/verify[\s\S]*Exit codes: 0/);
  });

  it('prints a command’s help too', () => {
    const parsed = parseArguments(['verify', '--help']);
    expect(parsed).toMatchObject({ kind: 'exit', exitCode: ExitCode.Ok });
    expect(parsed.kind === 'exit' && parsed.stdout).toContain('--org <uuid>');
  });
});

describe('runCli before any database work', () => {
  it('answers a usage error with 2', async () => {
    const io = capture();
    await expect(runCli(['verify', '--org', 'acme'], io)).resolves.toBe(ExitCode.Usage);
    expect(io.out).toBe('');
  });

  it('answers a configuration mistake with 2, one line per problem, nothing on stdout', async () => {
    const io = capture({ PORT: 'x', LOG_LEVEL: 'loud' });
    await expect(runCli(['verify'], io)).resolves.toBe(ExitCode.Usage);
    expect(io.out).toBe('');
    expect(io.err.trimEnd().split('\n')).toEqual([
      'Invalid configuration:',
      '  - PORT must be a whole number from 1 to 65535 (got "x")',
      '  - LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    ]);
  });

  it('refuses migrate against an external database without the owner’s connection', async () => {
    const io = capture({
      DATABASE_URL: 'postgres://app:pw@localhost/beecastle?sslmode=verify-full',
    });
    await expect(runCli(['migrate'], io)).resolves.toBe(ExitCode.Usage);
    expect(io.err).toContain('DATABASE_OWNER_URL');
  });

  it('answers an unreachable database with 3, not with the 1 of a broken chain', async () => {
    const io = capture({
      DATABASE_URL: 'postgres://app:pw@127.0.0.1:1/beecastle?sslmode=verify-full',
    });
    await expect(runCli(['verify'], io)).resolves.toBe(ExitCode.Unavailable);
    expect(io.out).toBe('');
    expect(io.err).toMatch(/^verify could not finish: /);
    expect(io.err).not.toContain('pw@');
  });
});

describe('jsonLine', () => {
  it('prints bigints as numbers, on one line', () => {
    expect(jsonLine({ revision: 3n, nested: { at: 10n } })).toBe(
      '{"revision":3,"nested":{"at":10}}\n',
    );
  });

  it('keeps a bigint beyond 2^53 exact, as a string', () => {
    expect(jsonLine({ revision: 2n ** 60n })).toBe('{"revision":"1152921504606846976"}\n');
  });
});
