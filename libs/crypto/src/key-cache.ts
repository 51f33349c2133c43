/**
 * Unwrapped keys, briefly: a bounded least-recently-used map whose entries also expire, so that
 * reads and projections do not go to the key store (and the master key) for every event, while a
 * key stays in memory no longer than it is in use.
 */
export class KeyCache<V> {
  // A Map iterates in insertion order: re-inserting on each hit keeps the oldest use first.
  private readonly entries = new Map<string, { readonly value: V; readonly expires: number }>();
  // Where eviction has got to. A fresh iterator per eviction started at the table's first slot
  // and stepped over every slot deleted since V8 last rehashed the Map (thousands, in a full
  // cache taking a new key per imported contact): 6 µs an evicted key, the keyring's largest
  // cost when seeding. A Map iterator is live (it sees entries added after it, and skips deleted
  // ones), and everything behind it was evicted or moved to the end by re-insertion, so it always
  // reaches the oldest entry next.
  private oldest: Iterator<string> | undefined;

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (capacity < 1) throw new Error('A key cache holds at least one entry');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expires <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    while (this.entries.size > this.capacity) {
      let next = this.oldest?.next();
      if (!next || next.done) {
        this.oldest = this.entries.keys();
        next = this.oldest.next();
      }
      this.entries.delete(next.value as string);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.oldest = undefined;
  }
}
