import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { ChannelListener } from './channel-listener';
import { createTestDatabase, type TestDatabase } from './testing/test-database';

jest.setTimeout(60_000);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(20);
  }
}

describe('ChannelListener', () => {
  let db: TestDatabase;
  const listeners: ChannelListener[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((listener) => listener.close()));
  });

  afterAll(async () => {
    await db.drop();
  });

  /** A listener on a channel of its own, whose sessions carry a name of their own. */
  function newListener(connectionString = () => db.appUrl) {
    const tag = randomUUID().slice(0, 8);
    const channel = `test_channel_${tag}`;
    const applicationName = `channel-listener-${tag}`;
    const listener = new ChannelListener(
      channel,
      () => new Client({ connectionString: connectionString(), application_name: applicationName }),
    );
    listeners.push(listener);
    const heard: (string | undefined)[] = [];
    /** The pids of its LISTEN sessions (the application role sees its own sessions). */
    const sessions = async () =>
      (
        await db.app.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1`,
          [applicationName],
        )
      ).rows.map((row) => row.pid);
    const notify = (payload: string, on = channel) =>
      db.app.query('SELECT pg_notify($1, $2)', [on, payload]);
    return { listener, channel, heard, sessions, notify };
  }

  it('refuses a channel name that LISTEN could not take as it is', () => {
    const createClient = () => new Client({ connectionString: db.appUrl });
    for (const name of ['', 'Upper', 'semi;colon', 'with space', '1st', 'a'.repeat(64)])
      expect(() => new ChannelListener(name, createClient)).toThrow(RangeError);
  });

  it('listens from its first subscriber, says so, and hears only its own channel', async () => {
    const { listener, heard, sessions, notify } = newListener();
    expect(listener.listening()).toBe(false);
    expect(await sessions()).toEqual([]);

    listener.add((payload) => heard.push(payload));
    await eventually(() => listener.listening(), 'listening');
    // The start itself: whatever was notified before went unheard.
    expect(heard).toEqual([undefined]);

    await notify('org-1');
    await notify('other channel', 'test_channel_other');
    await notify('');
    await eventually(() => heard.length === 3, 'two notifications');
    expect(heard).toEqual([undefined, 'org-1', '']);
  });

  it('serves every subscriber from one session, and stops telling one that left', async () => {
    const { listener, sessions, notify } = newListener();
    const first: (string | undefined)[] = [];
    const second: (string | undefined)[] = [];
    const leave = listener.add((payload) => first.push(payload));
    listener.add((payload) => second.push(payload));
    await eventually(() => listener.listening(), 'listening');
    expect(await sessions()).toHaveLength(1);

    await notify('a');
    await eventually(() => first.length === 2 && second.length === 2, 'a');
    leave();
    await notify('b');
    await eventually(() => second.length === 3, 'b');
    expect(first).toEqual([undefined, 'a']);
    expect(second).toEqual([undefined, 'a', 'b']);
  });

  it('after losing its session: not listening, tells everyone, and listens again', async () => {
    const { listener, heard, sessions, notify } = newListener();
    const listeningWhenTold: boolean[] = [];
    listener.add((payload) => {
      heard.push(payload);
      if (payload === undefined) listeningWhenTold.push(listener.listening());
    });
    await eventually(() => listener.listening(), 'listening');
    const [first] = await sessions();

    await db.app.query('SELECT pg_terminate_backend($1)', [first]);
    // Lost: told, and not listening meanwhile; then back, on a new session, and told again.
    await eventually(() => heard.length >= 3 && listener.listening(), 'listening again');
    expect(heard).toEqual([undefined, undefined, undefined]);
    expect(listeningWhenTold).toEqual([false, false, false]);
    const again = await sessions();
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(first);

    await notify('after');
    await eventually(() => heard.length === 4, 'after');
    expect(heard.at(-1)).toBe('after');
  });

  it('keeps trying while the database refuses it, and listens once it can', async () => {
    let attempts = 0;
    const refused = new URL(db.appUrl);
    refused.password = 'not-the-password';
    const { listener, heard } = newListener(() =>
      (attempts += 1) <= 2 ? refused.toString() : db.appUrl,
    );
    listener.add((payload) => heard.push(payload));
    await eventually(() => listener.listening(), 'listening');
    expect(attempts).toBe(3);
    expect(heard).toEqual([undefined]);
  });

  it('after close: its session ends, nobody is told anything, and nothing opens another', async () => {
    const { listener, heard, sessions, notify } = newListener();
    listener.add((payload) => heard.push(payload));
    await eventually(() => listener.listening(), 'listening');

    await listener.close();
    expect(listener.listening()).toBe(false);
    await eventually(async () => (await sessions()).length === 0, 'the session to end');
    await notify('late');
    listener.add((payload) => heard.push(payload));
    await pause(200);
    expect(heard).toEqual([undefined]);
    expect(await sessions()).toEqual([]);
  });
});
