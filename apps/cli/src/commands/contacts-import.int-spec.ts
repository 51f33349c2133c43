import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTACT_EVENT_TYPES } from '@beecastle/domain';
import { verifyEventLog } from '@beecastle/event-store';
import { decodeContactEvent, type EventLog } from '@beecastle/read-model';
import { openTestEventLog } from '../../../../libs/read-model/src/testing/test-event-log';
import {
  createTestDatabase,
  type TestDatabase,
} from '../../../../libs/database/src/testing/test-database';
import { runCli } from '../cli';
import { ExitCode } from '../exit-codes';
import { IMPORT_CHUNK_CONTACTS } from './contacts-import.command';
import { ContactImportInterruptedError } from '../../../api/src/contacts/import-contacts/contact-import.errors';
import { ImportContactsHandler } from '../../../api/src/contacts/import-contacts/import-contacts.handler';
import { capturedIo } from '../testing/captured-io';

describe('contacts:import against a real database', () => {
  let db: TestDatabase;
  // The log as the CLI writes it: encrypted, read here with the same master key.
  let eventLog: EventLog;
  let dir: string;
  let organisationId: string;
  let ownerUserId: string;

  const cli = async (args: string[]) => {
    const io = capturedIo({ DATABASE_URL: db.appUrl });
    const code = await runCli(args, io);
    return { code, out: io.out, err: io.err };
  };
  const importFile = async (lines: string[], extra: string[] = [], org = organisationId) => {
    const file = join(dir, `${randomUUID()}.jsonl`);
    await writeFile(file, lines.join('\n'));
    return cli(['contacts:import', '--org', org, '--file', file, ...extra]);
  };
  const contactEvents = (org = organisationId) =>
    eventLog.store.readAll({ filter: { organisationId: org, eventTypes: CONTACT_EVENT_TYPES } });

  /** Asserts a refusal: exit 2, one line on stderr matching `why`, nothing on stdout or the log. */
  const expectRefused = async (
    run: Promise<{ code: number; out: string; err: string }>,
    why: RegExp,
    org = organisationId,
  ) => {
    const before = await contactEvents(org);
    const { code, out, err } = await run;
    expect({ code, out }).toEqual({ code: ExitCode.Usage, out: '' });
    expect(err).toMatch(why);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(await contactEvents(org)).toEqual(before);
  };
  const createOrganisation = async (name: string) => {
    const created = await cli([
      'org:create',
      '--name',
      name,
      '--owner-email',
      `importer-${randomUUID()}@example.test`,
      '--owner-password',
      'correct horse battery staple',
    ]);
    expect(created.code).toBe(ExitCode.Ok);
    return JSON.parse(created.out) as { organisationId: string; ownerUserId: string };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    eventLog = openTestEventLog(db.app);
    dir = await mkdtemp(join(tmpdir(), 'beecastle-import-'));
    ({ organisationId, ownerUserId } = await createOrganisation('Importers'));
  });
  afterAll(async () => {
    await eventLog.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('imports a file of three contacts as three streams, checked and normalised as the API does', async () => {
    const { code, out, err } = await importFile([
      JSON.stringify({ firstName: ' Ada ', lastName: 'Lovelace', tags: ['maths'] }),
      '',
      JSON.stringify({
        company: 'Analytical Engines',
        emails: [{ address: 'Grace@Example.COM', label: 'work' }],
        phones: [{ number: '+44 20 7946 0958' }],
        ownerUserId,
      }),
      JSON.stringify({ notes: 'third' }),
      '',
    ]);

    expect({ code, err }).toEqual({ code: ExitCode.Ok, err: '' });
    expect(out.endsWith('\n') && out.trimEnd().split('\n')).toHaveLength(1);
    const printed = JSON.parse(out) as {
      organisationId: string;
      imported: number;
      correlationId: string;
      ids: string[];
    };
    expect(printed).toMatchObject({ organisationId, imported: 3 });
    expect(printed.ids).toHaveLength(3);
    const events = await contactEvents();
    expect(events.map((e) => [e.streamId, e.revision])).toEqual(
      printed.ids.map((id) => [`contact-${organisationId}.${id}`, 0n]),
    );
    expect(events.map((e) => decodeContactEvent(e).data)).toMatchObject([
      { contactId: printed.ids[0], firstName: 'Ada', lastName: 'Lovelace', tags: ['maths'] },
      {
        contactId: printed.ids[1],
        emails: [{ address: 'grace@example.com', label: 'work' }],
        phones: [{ number: '+442079460958' }],
        ownerUserId,
      },
      { contactId: printed.ids[2], notes: 'third', ownerUserId: null },
    ]);
    for (const [index, event] of events.entries()) {
      // Each contact's payload under its own data key, which metadata names.
      expect(event.metadata).toEqual({
        organisationId,
        actorId: 'cli:contacts:import',
        actorType: 'system',
        correlationId: printed.correlationId,
        keyId: `${printed.ids[index]}:1`,
      });
    }
    expect(await verifyEventLog(db.app, { organisationId })).toMatchObject({ ok: true });
  });

  it('writes the ids to --ids-file, one per line in the file’s order, and prints where', async () => {
    const idsFile = join(dir, 'ids.txt');
    const before = (await contactEvents()).length;

    const { code, out } = await importFile(
      [JSON.stringify({ firstName: 'One' }), JSON.stringify({ firstName: 'Two' })],
      ['--ids-file', idsFile],
    );

    expect(code).toBe(ExitCode.Ok);
    expect(JSON.parse(out)).toMatchObject({ imported: 2, idsFile });
    const ids = (await readFile(idsFile, 'utf8')).trimEnd().split('\n');
    const added = (await contactEvents()).slice(before);
    expect(added.map((e) => e.streamId)).toEqual(
      ids.map((id) => `contact-${organisationId}.${id}`),
    );
  });

  it('refuses a file with an invalid line, naming it, and imports nothing', async () => {
    await expectRefused(
      importFile([
        JSON.stringify({ firstName: 'Fine' }),
        '',
        JSON.stringify({ firstName: 'Bad', emails: [{ address: 'not an email' }] }),
        JSON.stringify({ firstName: 'Never' }),
      ]),
      /^contacts:import refused: line 3: .*emails/,
    );
  });

  describe('a file larger than a chunk', () => {
    // An organisation of its own: the other tests read all of theirs' contact events.
    let bigOrganisation: string;
    beforeAll(async () => {
      ({ organisationId: bigOrganisation } = await createOrganisation('Big importers'));
    });
    const lines = (count: number, name: string) =>
      Array.from({ length: count }, (_, i) =>
        JSON.stringify({ firstName: name, lastName: `L${i}` }),
      );

    it('is checked whole before any of it is imported: a bad line after the first chunk imports nothing', async () => {
      const file = [
        ...lines(IMPORT_CHUNK_CONTACTS + 1, 'Early'),
        JSON.stringify({ firstName: 'Bad', emails: [{ address: 'not an email' }] }),
      ];
      await expectRefused(
        importFile(file, [], bigOrganisation),
        new RegExp(`^contacts:import refused: line ${IMPORT_CHUNK_CONTACTS + 2}: .*emails`),
        bigOrganisation,
      );
    });

    it('is imported chunk by chunk, the ids in the file’s order', async () => {
      const idsFile = join(dir, 'big-ids.txt');
      const count = IMPORT_CHUNK_CONTACTS + 3;
      const before = (await contactEvents(bigOrganisation)).length;

      const { code, out, err } = await importFile(
        lines(count, 'Many'),
        ['--ids-file', idsFile],
        bigOrganisation,
      );

      expect({ code, err }).toEqual({ code: ExitCode.Ok, err: '' });
      expect(JSON.parse(out)).toMatchObject({ imported: count, idsFile });
      const ids = (await readFile(idsFile, 'utf8')).trimEnd().split('\n');
      expect(ids).toHaveLength(count);
      const lastNames = new Map(
        (await contactEvents(bigOrganisation))
          .slice(before)
          .map((e) => decodeContactEvent(e).data as { contactId: string; lastName: string })
          .map((d) => [d.contactId, d.lastName]),
      );
      expect(ids.map((id) => lastNames.get(id))).toEqual(
        Array.from({ length: count }, (_, i) => `L${i}`),
      );
    });

    it('says what was imported when the log fails part-way, and exits 3', async () => {
      const idsFile = join(dir, 'interrupted-ids.txt');
      const execute = ImportContactsHandler.prototype.execute;
      let calls = 0;
      const spy = jest
        .spyOn(ImportContactsHandler.prototype, 'execute')
        .mockImplementation(async function (this: ImportContactsHandler, command) {
          calls += 1;
          if (calls === 1) return execute.call(this, command);
          // The second chunk: its first batch in, then the log fails.
          const done = await execute.call(this, {
            ...command,
            contacts: command.contacts.slice(0, 2),
          });
          throw new ContactImportInterruptedError(done.ids, new Error('connection lost'));
        });
      try {
        const before = (await contactEvents(bigOrganisation)).length;
        const { code, out, err } = await importFile(
          lines(IMPORT_CHUNK_CONTACTS + 3, 'Cut'),
          ['--ids-file', idsFile],
          bigOrganisation,
        );

        expect({ code, out }).toEqual({ code: ExitCode.Unavailable, out: '' });
        expect(err).toMatch(
          new RegExp(
            `^contacts:import interrupted after ${IMPORT_CHUNK_CONTACTS + 2} of ${IMPORT_CHUNK_CONTACTS + 3} contacts .*connection lost; the imported ones' ids are in `,
          ),
        );
        const ids = (await readFile(idsFile, 'utf8')).trimEnd().split('\n');
        const added = (await contactEvents(bigOrganisation)).slice(before);
        expect(added.map((e) => e.streamId)).toEqual(
          ids.map((id) => `contact-${bigOrganisation}.${id}`),
        );
      } finally {
        spy.mockRestore();
      }
    });
  });

  it.each([
    ['malformed JSON', '{"firstName": "Ada"', /line 2: The line is not valid JSON/],
    ['an unknown field', JSON.stringify({ firstname: 'Ada' }), /line 2: .*firstname/],
    ['a prototype key', '{"__proto__": {"admin": true}}', /line 2: .*__proto__/],
    ['no field', '{}', /line 2: .*names no field/],
    ['a list', '[]', /line 2: The line is not a JSON object/],
  ])('refuses a line with %s', async (_what, line, why) => {
    await expectRefused(importFile([JSON.stringify({ firstName: 'Fine' }), line]), why);
  });

  it('refuses an owner who is not an active member, naming the line', async () => {
    await expectRefused(
      importFile([
        JSON.stringify({ firstName: 'Owned', ownerUserId }),
        JSON.stringify({ firstName: 'Orphan', ownerUserId: randomUUID() }),
      ]),
      /^contacts:import refused: line 2: ownerUserId is not an active member/,
    );
  });

  it('refuses an organisation that does not exist', async () => {
    const nowhere = randomUUID();
    await expectRefused(
      importFile([JSON.stringify({ firstName: 'Lost' })], [], nowhere),
      new RegExp(`there is no organisation ${nowhere}`),
    );
    expect(await contactEvents(nowhere)).toEqual([]);
  });

  it('refuses a file it cannot read, and an empty one', async () => {
    await expectRefused(
      cli(['contacts:import', '--org', organisationId, '--file', join(dir, 'missing.jsonl')]),
      /cannot read .*missing\.jsonl: ENOENT/,
    );
    await expectRefused(importFile(['', '  ']), /holds no contact/);
  });

  it('refuses missing options before touching the database', async () => {
    const { code, err } = await cli(['contacts:import', '--org', organisationId]);
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/--file/);
    const notUuid = await cli(['contacts:import', '--org', 'acme', '--file', 'x.jsonl']);
    expect(notUuid.code).toBe(ExitCode.Usage);
    expect(notUuid.err).toContain('An organisation id is a UUID.');
  });
});
