import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Configuration } from '@beecastle/config';
import { loadMasterKey } from '@beecastle/crypto';
import { createPool, openDatabase } from '@beecastle/database';
import { DomainError, type ContactInput } from '@beecastle/domain';
import { StreamNotFoundError, streamName } from '@beecastle/event-store';
import { openEventLog } from '@beecastle/read-model';
import { MembershipContactOwners } from '../../../api/src/contacts/contact-owners';
import { ContactImportRefusedError } from '../../../api/src/contacts/import-contacts/contact-import.errors';
import { parseContactLine } from '../../../api/src/contacts/import-contacts/contact-line';
import { ImportContactsCommand } from '../../../api/src/contacts/import-contacts/import-contacts.command';
import { ImportContactsHandler } from '../../../api/src/contacts/import-contacts/import-contacts.handler';
import { ProblemException } from '../../../api/src/http/problem.exception';
import type { CliIo } from '../cli-io';
import { ExitCode } from '../exit-codes';
import { jsonLine } from '../json-line';

export interface ContactsImportArguments {
  readonly organisationId: string;
  /** JSON Lines: one contact per line, as the body of `POST /v1/contacts`; blank lines skipped. */
  readonly file: string;
  /** Where to write the new ids, one per line in the file's order; else they are printed. */
  readonly idsFile?: string;
}

/** Operators act as the system; the envelope says it was this command. */
const OPERATOR = { type: 'system', id: 'cli:contacts:import' } as const;

class Refused extends Error {}

/**
 * Imports a file of contacts into an organisation through the same handler (and the same checks)
 * as the API, then prints `{"organisationId","imported","correlationId", "ids" | "idsFile"}`. Every
 * line is checked before anything is appended: a refused line is named on stderr (exit 2) and
 * nothing is imported. All the events share one correlation id, so the import can be found later.
 */
export async function contactsImport(
  config: Configuration,
  args: ContactsImportArguments,
  io: CliIo,
): Promise<ExitCode> {
  const refuse = (why: string) => {
    io.stderr(`contacts:import refused: ${why}\n`);
    return ExitCode.Usage;
  };
  let file: ContactsFile;
  try {
    file = await readContactsFile(args.file);
  } catch (error) {
    if (error instanceof Refused) return refuse(error.message);
    throw error;
  }
  if (file.contacts.length === 0) return refuse(`${args.file} holds no contact`);

  const { provider: masterKey } = await loadMasterKey(config);
  const database = await openDatabase(config, (message) => io.stderr(`${message}\n`));
  const pool = createPool(database.appUrl, {
    applicationName: 'beecastle-cli-contacts-import',
    // Two batches in flight (each making its contacts' data keys first), and a wake-up for
    // subscribers after each.
    max: 4,
  });
  const eventLog = openEventLog(pool, { masterKey, listenConnectionString: database.appUrl });
  const { store } = eventLog;
  try {
    const { organisationId } = args;
    const organisation = streamName('organisation', organisationId, organisationId);
    try {
      await store.readStream(organisation, { maxCount: 1 });
    } catch (error) {
      if (error instanceof StreamNotFoundError)
        return refuse(`there is no organisation ${organisationId}`);
      throw error;
    }
    const correlationId = randomUUID();
    const handler = new ImportContactsHandler(store, new MembershipContactOwners(pool));
    const { ids } = await handler.execute(
      new ImportContactsCommand(
        { organisationId, actor: OPERATOR, correlationId },
        undefined,
        file.contacts,
      ),
    );
    if (args.idsFile !== undefined) await writeFile(args.idsFile, `${ids.join('\n')}\n`);
    io.stdout(
      jsonLine({
        organisationId,
        imported: ids.length,
        correlationId,
        ...(args.idsFile === undefined ? { ids } : { idsFile: args.idsFile }),
      }),
    );
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof ContactImportRefusedError)
      return refuse(`line ${file.lines[error.index]}: ${error.detail}`);
    if (error instanceof DomainError) return refuse(error.message);
    throw error;
  } finally {
    await eventLog.close();
    await pool.end();
    await database.close();
  }
}

interface ContactsFile {
  readonly contacts: ContactInput[];
  /** The 1-based line number of each contact. */
  readonly lines: number[];
}

async function readContactsFile(path: string): Promise<ContactsFile> {
  const input = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Refused(`cannot read ${path}: ${reason}`);
  }
  const contacts: ContactInput[] = [];
  const lines: number[] = [];
  let number = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    number += 1;
    if (line.trim() === '') continue;
    try {
      contacts.push(await parseContactLine(line));
    } catch (error) {
      if (!(error instanceof ProblemException)) throw error;
      input.destroy();
      throw new Refused(`line ${number}: ${error.detail}`);
    }
    lines.push(number);
  }
  return { contacts, lines };
}
