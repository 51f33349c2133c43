import { ConfigurationError, loadConfiguration, type Configuration } from '@beecastle/config';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { CliIo } from './cli-io';
import { contactsImport, type ContactsImportArguments } from './commands/contacts-import.command';
import { keysRotate, keysRotateMaster } from './commands/keys-rotate.command';
import { keysRotateSigning } from './commands/keys-rotate-signing.command';
import { migrate } from './commands/migrate.command';
import { orgCreate, type OrgCreateArguments } from './commands/org-create.command';
import { verify } from './commands/verify.command';
import { ExitCode } from './exit-codes';

export type CliCommand =
  | { readonly name: 'migrate' }
  | { readonly name: 'keys:rotate-signing' }
  | { readonly name: 'keys:rotate'; readonly organisationId: string }
  | { readonly name: 'keys:rotate-master' }
  | { readonly name: 'verify'; readonly organisationId?: string }
  | { readonly name: 'org:create'; readonly args: OrgCreateArguments }
  | { readonly name: 'contacts:import'; readonly args: ContactsImportArguments };

export type ParsedArguments =
  | { readonly kind: 'run'; readonly command: CliCommand }
  /** Help, or a usage error: print this and exit, without touching the database. */
  | {
      readonly kind: 'exit';
      readonly exitCode: ExitCode;
      readonly stdout: string;
      readonly stderr: string;
    };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function organisationIdArgument(value: string): string {
  if (!UUID.test(value)) throw new InvalidArgumentError('An organisation id is a UUID.');
  return value.toLowerCase();
}

const EXIT_CODES_HELP = `
Exit codes: 0 done (verify: chain intact), 1 verify found a broken chain,
2 wrong arguments or configuration, 3 could not finish (database unreachable, migration failed).
Configuration comes from the same environment variables as the server (DATA_DIR, DATABASE_URL, ...).`;

/** Reads the arguments (without the node and script paths); runs nothing. */
export function parseArguments(args: readonly string[]): ParsedArguments {
  let command: CliCommand | undefined;
  let stdout = '';
  let stderr = '';
  const program = new Command('beecastle')
    .description('BeeCastle operator commands (one-shot; the server may be running or not)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => (stdout += text),
      writeErr: (text) => (stderr += text),
    })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);
  program
    .command('migrate')
    .description('apply pending database migrations and print which ran')
    .action(() => {
      command = { name: 'migrate' };
    });
  program
    .command('verify')
    .description('recompute the event log hash chains and name the first broken event')
    .option('--org <uuid>', 'only this organisation', organisationIdArgument)
    .action((options: { org?: string }) => {
      command = { name: 'verify', organisationId: options.org };
    });

  program
    .command('org:create')
    .description('create an organisation and its first owner; prints its id and the owner’s')
    .requiredOption('--name <name>', 'the organisation’s name (names need not be unique)')
    .requiredOption(
      '--owner-email <email>',
      'the owner’s email (an existing account keeps its password)',
    )
    .requiredOption(
      '--owner-password <password>',
      'a new account’s password, or the existing one’s',
    )
    .option('--owner-name <name>', 'the owner’s display name (default: the email’s local part)')
    .action(
      (options: {
        name: string;
        ownerEmail: string;
        ownerPassword: string;
        ownerName?: string;
      }) => {
        command = { name: 'org:create', args: options };
      },
    );

  program
    .command('contacts:import')
    .description(
      'import contacts (JSON Lines, one POST /v1/contacts body per line) into an organisation; ' +
        'all or nothing if any line is refused; prints the count and the new ids',
    )
    .requiredOption('--org <uuid>', 'the organisation', organisationIdArgument)
    .requiredOption('--file <path>', 'the contacts, one JSON object per line')
    .option('--ids-file <path>', 'write the new ids there, one per line, instead of printing them')
    .action((options: { org: string; file: string; idsFile?: string }) => {
      command = {
        name: 'contacts:import',
        args: { organisationId: options.org, file: options.file, idsFile: options.idsFile },
      };
    });

  program
    .command('keys:rotate-signing')
    .description('activate a new token signing key; tokens signed by the old one keep working')
    .action(() => {
      command = { name: 'keys:rotate-signing' };
    });

  program
    .command('keys:rotate')
    .description(
      'rotate an organisation’s key: a new version wraps every data key (resumable; the log is not rewritten)',
    )
    .requiredOption('--org <uuid>', 'the organisation', organisationIdArgument)
    .action((options: { org: string }) => {
      command = { name: 'keys:rotate', organisationId: options.org };
    });

  program
    .command('keys:rotate-master')
    .description(
      'rotate the master key from MASTER_KEY to NEW_MASTER_KEY: every organisation key re-wrapped (resumable)',
    )
    .action(() => {
      command = { name: 'keys:rotate-master' };
    });

  try {
    program.parse([...args], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    const helpAsked =
      error.code === 'commander.helpDisplayed' || error.code === 'commander.version';
    return { kind: 'exit', exitCode: helpAsked ? ExitCode.Ok : ExitCode.Usage, stdout, stderr };
  }
  if (command === undefined) {
    return { kind: 'exit', exitCode: ExitCode.Usage, stdout, stderr: program.helpInformation() };
  }
  return { kind: 'run', command };
}

/** The whole CLI: arguments in, exit code out. */
export async function runCli(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const parsed = parseArguments(args);
  if (parsed.kind === 'exit') {
    if (parsed.stdout) io.stdout(parsed.stdout);
    if (parsed.stderr) io.stderr(parsed.stderr);
    return parsed.exitCode;
  }
  let config: Configuration;
  try {
    config = loadConfiguration(io.env);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr(`${error.message}\n`);
    return ExitCode.Usage;
  }
  try {
    switch (parsed.command.name) {
      case 'migrate':
        return await migrate(config, io);
      case 'verify':
        return await verify(config, parsed.command.organisationId, io);
      case 'keys:rotate-signing':
        return await keysRotateSigning(config, io);
      case 'keys:rotate':
        return await keysRotate(config, parsed.command.organisationId, io);
      case 'keys:rotate-master':
        return await keysRotateMaster(config, io);
      case 'org:create':
        return await orgCreate(config, parsed.command.args, io);
      case 'contacts:import':
        return await contactsImport(config, parsed.command.args, io);
    }
  } catch (error) {
    // Settings only some commands need (MASTER_KEY) are checked when they are needed.
    if (error instanceof ConfigurationError) {
      io.stderr(`${error.message}\n`);
      return ExitCode.Usage;
    }
    const reason = error instanceof Error ? error.message : String(error);
    io.stderr(`${parsed.command.name} could not finish: ${reason}\n`);
    return ExitCode.Unavailable;
  }
}
