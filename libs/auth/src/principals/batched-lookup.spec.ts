import { BatchedLookup } from './batched-lookup';

interface Key {
  readonly org: string;
  readonly id: string;
}

/** A lookup that records every batch it is asked and answers `<org>/<id>@<batch number>`. */
function recordingLookup() {
  const batches: string[][] = [];
  const lookup = new BatchedLookup<Key, string>(
    (keys) => {
      batches.push(keys.map((k) => `${k.org}/${k.id}`));
      const n = batches.length;
      return Promise.resolve(keys.map((k) => `${k.org}/${k.id}@${n}`));
    },
    (key) => `${key.org}/${key.id}`,
    4,
  );
  return { lookup, batches };
}

describe('BatchedLookup', () => {
  it('asks once per turn of the event loop, each caller getting its own key’s answer', async () => {
    const { lookup, batches } = recordingLookup();
    const answers = await Promise.all([
      lookup.load({ org: 'a', id: '1' }),
      lookup.load({ org: 'b', id: '1' }),
      lookup.load({ org: 'a', id: '2' }),
    ]);
    expect(answers).toEqual(['a/1@1', 'b/1@1', 'a/2@1']);
    expect(batches).toEqual([['a/1', 'b/1', 'a/2']]);
  });

  it('looks a key up once however many callers ask for it in the turn, and answers them all', async () => {
    const { lookup, batches } = recordingLookup();
    const answers = await Promise.all([
      lookup.load({ org: 'a', id: '1' }),
      lookup.load({ org: 'a', id: '2' }),
      lookup.load({ org: 'a', id: '1' }),
    ]);
    expect(answers).toEqual(['a/1@1', 'a/2@1', 'a/1@1']);
    expect(batches).toEqual([['a/1', 'a/2']]);
  });

  it('asks again in the next turn: an answer is never kept for later callers', async () => {
    const { lookup, batches } = recordingLookup();
    expect(await lookup.load({ org: 'a', id: '1' })).toBe('a/1@1');
    expect(await lookup.load({ org: 'a', id: '1' })).toBe('a/1@2');
    expect(batches).toEqual([['a/1'], ['a/1']]);
  });

  it('sends a full batch at once, duplicates counted, and the rest in the turn after', async () => {
    const { lookup, batches } = recordingLookup();
    const answers = await Promise.all(
      ['1', '1', '2', '3', '4'].map((id) => lookup.load({ org: 'a', id })),
    );
    expect(answers).toEqual(['a/1@1', 'a/1@1', 'a/2@1', 'a/3@1', 'a/4@2']);
    expect(batches).toEqual([['a/1', 'a/2', 'a/3'], ['a/4']]);
  });

  it('fails every caller of a batch whose lookup fails or answers the wrong number', async () => {
    const failing = new BatchedLookup<Key, string>(
      () => Promise.reject(new Error('database down')),
      (key) => key.id,
    );
    await expect(
      Promise.all([failing.load({ org: 'a', id: '1' }), failing.load({ org: 'a', id: '1' })]),
    ).rejects.toThrow('database down');
    const short = new BatchedLookup<Key, string>(
      () => Promise.resolve(['only one']),
      (key) => key.id,
    );
    const outcomes = await Promise.allSettled([
      short.load({ org: 'a', id: '1' }),
      short.load({ org: 'a', id: '2' }),
      short.load({ org: 'a', id: '1' }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });
});
