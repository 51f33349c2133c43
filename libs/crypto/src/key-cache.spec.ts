import { KeyCache } from './key-cache';

describe('KeyCache', () => {
  it('forgets the least recently used entry beyond its capacity', () => {
    const cache = new KeyCache<number>(2, 60_000);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });

  it('stays least recently used through many evictions, deletions and clears', () => {
    // Eviction keeps one iterator across calls: check it against a plain list, step by step.
    const cache = new KeyCache<number>(50, 60_000);
    const reference: string[] = [];
    const forget = (key: string) => {
      const at = reference.indexOf(key);
      if (at >= 0) reference.splice(at, 1);
    };
    let seed = 1;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 50_000; i++) {
      const key = `k${Math.floor(random() * 120)}`;
      const action = random();
      if (action < 0.45) {
        const known = reference.includes(key);
        expect(cache.get(key) !== undefined).toBe(known);
        if (known) {
          forget(key);
          reference.push(key);
        }
      } else if (action < 0.5) {
        cache.delete(key);
        forget(key);
      } else if (action < 0.5005) {
        cache.clear();
        reference.length = 0;
      } else {
        cache.set(key, i);
        forget(key);
        reference.push(key);
        if (reference.length > 50) reference.shift();
      }
      expect(cache.size).toBe(reference.length);
    }
  });

  it('forgets entries once they expire, used or not', () => {
    let now = 1_000;
    const cache = new KeyCache<number>(10, 500, () => now);
    cache.set('a', 1);
    now += 499;
    expect(cache.get('a')).toBe(1);
    now += 1;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('deletes and clears', () => {
    const cache = new KeyCache<number>(10, 500);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
    cache.clear();
    expect(cache.get('b')).toBeUndefined();
  });
});
