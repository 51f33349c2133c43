import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Configuration } from '@beecastle/config';
import { loadMasterKey } from '@beecastle/crypto';
import { createPool, openDatabase } from '@beecastle/database';
import { DomainError, type ContactInput } from '@beecastle/domain';
import { StreamNotFoundError, streamName } from '@beecastle/event-store';
import { openEventLog } from '@beecastle/read-model';
import { MembershipContactOwners } from '../../../api/src/contacts/contact-owners';
import {
  ContactImportInterruptedError,
  ContactImportRefusedError,
} from '../../../api/src/contacts/import-contacts/contact-import.errors';
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

/** Contacts checked, then imported, together: the file is never held whole in memory. */
export const IMPORT_CHUNK_CONTACTS = 5_000;

/**
 * Imports a file of contacts into an organisation through the same handler (and the same checks)
 * as the API, then prints `{"organisationId","imported","correlationId", "ids" | "idsFile"}`. Every
 * line is checked before anything is appended: a refused line is named on stderr (exit 2) and
 * nothing is imported. All the events share one correlation id, so the import can be found later.
 *
 * The file is read twice, a chunk of IMPORT_CHUNK_CONTACTS at a time: first every chunk is parsed
 * and checked (nothing appended), then every chunk is imported. Memory stays flat whatever the
 * file's size, apart from the new ids when they are printed rather than written to `--ids-file`.
 * Should the log fail part-way (or a check made in the first pass no longer hold in the second),
 * what was imported is said on stderr, with its ids, and the exit code is 3.
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
  try {
    await assertReadable(args.file);
  } catch (error) {
    if (error instanceof Refused) return refuse(error.message);
    throw error;
  }

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
    const command = (chunk: ContactsChunk) =>
      new ImportContactsCommand(
        { organisationId, actor: OPERATOR, correlationId },
        undefined,
        chunk.contacts,
      );

    // First pass: every line parsed and checked, nothing appended.
    let total = 0;
    try {
      for await (const chunk of readContactChunks(args.file)) {
        total += chunk.contacts.length;
        await handler.check(command(chunk)).catch(refusedAt(chunk));
      }
    } catch (error) {
      return refuse(refusalOf(error));
    }
    if (total === 0) return refuse(`${args.file} holds no contact`);

    // Second pass: imported a chunk at a time, the ids kept or written as they come.
    const ids = new IdSink(args.idsFile);
    await ids.open();
    try {
      for await (const chunk of readContactChunks(args.file)) {
        try {
          await ids.add((await handler.execute(command(chunk))).ids);
        } catch (error) {
          if (error instanceof ContactImportInterruptedError) await ids.add(error.importedIds);
          refusedAt(chunk)(error);
        }
      }
    } catch (error) {
      if (ids.count === 0) return refuse(refusalOf(error));
      const cause = error instanceof Error ? error.message : String(error);
      io.stderr(
        `contacts:import interrupted after ${ids.count} of ${total} contacts (correlation id ${correlationId}): ${cause}; ` +
          `${args.idsFile === undefined ? `imported ids: ${ids.kept().join(',')}` : `the imported ones' ids are in ${args.idsFile}`}\n`,
      );
      return ExitCode.Unavailable;
    } finally {
      await ids.close();
    }
    io.stdout(
      jsonLine({
        organisationId,
        imported: ids.count,
        correlationId,
        ...(args.idsFile === undefined ? { ids: ids.kept() } : { idsFile: args.idsFile }),
      }),
    );
    return ExitCode.Ok;
  } finally {
    await eventLog.close();
    await pool.end();
    await database.close();
  }
}

/** Why the import is refused, for a refusal (anything else is rethrown). */
function refusalOf(error: unknown): string {
  if (error instanceof Refused || error instanceof DomainError) return error.message;
  throw error;
}

/** A refusal of one of the chunk's contacts as Refused, naming its line; anything else as it is. */
function refusedAt(chunk: ContactsChunk): (error: unknown) => never {
  return (error) => {
    if (error instanceof ContactImportRefusedError)
      throw new Refused(`line ${chunk.lines[error.index]}: ${error.detail}`);
    throw error;
  };
}

interface ContactsChunk {
  readonly contacts: ContactInput[];
  /** The 1-based line number of each contact. */
  readonly lines: number[];
}

async function assertReadable(path: string): Promise<void> {
  try {
    await (await open(path, 'r')).close();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Refused(`cannot read ${path}: ${reason}`);
  }
}

/** The file's contacts, parsed as the API parses a body, IMPORT_CHUNK_CONTACTS at a time. */
async function* readContactChunks(path: string): AsyncGenerator<ContactsChunk> {
  const input = createReadStream(path, { encoding: 'utf8' });
  let chunk: ContactsChunk = { contacts: [], lines: [] };
  let number = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      number += 1;
      if (line.trim() === '') continue;
      try {
        chunk.contacts.push(await parseContactLine(line));
      } catch (error) {
        if (!(error instanceof ProblemException)) throw error;
        throw new Refused(`line ${number}: ${error.detail}`);
      }
      chunk.lines.push(number);
      if (chunk.contacts.length === IMPORT_CHUNK_CONTACTS) {
        yield chunk;
        chunk = { contacts: [], lines: [] };
      }
    }
  } finally {
    input.destroy();
  }
  if (chunk.contacts.length > 0) yield chunk;
}

/** The new ids in the file's order: written to `--ids-file` as they come, else kept to print. */
class IdSink {
  count = 0;
  private readonly held: string[] = [];
  private file: FileHandle | undefined;

  constructor(private readonly path: string | undefined) {}

  async open(): Promise<void> {
    if (this.path !== undefined) this.file = await open(this.path, 'w');
  }

  async add(ids: readonly string[]): Promise<void> {
    this.count += ids.length;
    if (!this.file) this.held.push(...ids);
    else if (ids.length > 0) await this.file.write(`${ids.join('\n')}\n`);
  }

  kept(): readonly string[] {
    return this.held;
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }
}
