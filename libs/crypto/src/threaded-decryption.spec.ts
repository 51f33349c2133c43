import { associatedData, associatedDataText, randomKey, seal } from './aes-gcm';
import { ThreadedDecryption, type SealedItem } from './threaded-decryption';

describe('ThreadedDecryption', () => {
  const thread = new ThreadedDecryption();
  afterAll(() => thread.close());

  // Fields outside ASCII: text must be counted and written as UTF-8 bytes, not as characters.
  const fields = ['beecastle/test/v1', 'Zoë', 'Łódź €', 7] as const;

  it('opens items whose associated data is given as text, as bytes, or both in one batch', async () => {
    const key = randomKey();
    const plaintexts = ['first', 'second payload', 'third'].map((t) => Buffer.from(t));
    const sealed = plaintexts.map((p, i) => seal(key, p, associatedData(...fields, i)));
    const items: SealedItem[] = sealed.map((s, i) => ({
      key,
      associatedData: i === 1 ? associatedData(...fields, i) : associatedDataText(...fields, i),
      sealed: s,
    }));

    const opened = await thread.open(items);

    expect(opened.map((o) => o?.toString())).toEqual(['first', 'second payload', 'third']);
  });

  it('refuses an item whose text differs from what it was sealed with, and only that item', async () => {
    const key = randomKey();
    const good = seal(key, Buffer.from('kept'), associatedData(...fields));
    const moved = seal(key, Buffer.from('secret'), associatedData(...fields));

    const opened = await thread.open([
      { key, associatedData: associatedDataText(...fields), sealed: good },
      // One character changed (a different event id, say): not opened, never garbage.
      {
        key,
        associatedData: associatedDataText('beecastle/test/v1', 'Zoe', 'Łódź €', 7),
        sealed: moved,
      },
    ]);

    expect(opened[0]?.toString()).toBe('kept');
    expect(opened[1]).toBeUndefined();
  });

  it('takes text the same as the bytes associatedData makes of it', () => {
    expect(Buffer.from(associatedDataText(...fields), 'utf8')).toEqual(associatedData(...fields));
  });
});
