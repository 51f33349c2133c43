import type { QueryResult } from 'pg';
import { CommitNotifier } from './commit-notifier';
import type { Queryable } from './event-rows';

/** Records each notification and lets the test decide when the database answers. */
function fakeDatabase() {
  const sent: { organisationId: string; answer: () => void }[] = [];
  const db = {
    query: (config: { values: string[] }) =>
      new Promise<QueryResult>((resolve) =>
        sent.push({ organisationId: config.values[0], answer: () => resolve({} as QueryResult) }),
      ),
  } as unknown as Queryable;
  return { db, sent };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 2));
  expect(check()).toBe(true);
};

describe('CommitNotifier', () => {
  it('coalesces a burst into one notification, and sends one more for appends made while it was in flight', async () => {
    const { db, sent } = fakeDatabase();
    const notifier = new CommitNotifier(db);
    notifier.notify('org-a');
    notifier.notify('org-a');
    notifier.notify('org-a');
    await until(() => sent.length === 1);
    notifier.notify('org-a'); // committed after the first notification left: needs its own
    sent[0].answer();
    await until(() => sent.length === 2);
    sent[1].answer();
    await notifier.drain();
    expect(sent.map((s) => s.organisationId)).toEqual(['org-a', 'org-a']);
  });

  it('notifies each organisation separately', async () => {
    const { db, sent } = fakeDatabase();
    const notifier = new CommitNotifier(db);
    notifier.notify('org-a');
    notifier.notify('org-b');
    await until(() => sent.length === 2);
    sent.forEach((s) => s.answer());
    await notifier.drain();
    expect(sent.map((s) => s.organisationId).sort()).toEqual(['org-a', 'org-b']);
  });

  it('swallows a failed notification: subscribers poll, and the append already succeeded', async () => {
    const db = {
      query: () => Promise.reject(new Error('connection lost')),
    } as unknown as Queryable;
    const notifier = new CommitNotifier(db);
    notifier.notify('org-a');
    await expect(notifier.drain()).resolves.toBeUndefined();
  });
});
