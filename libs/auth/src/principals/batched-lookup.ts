/**
 * Gathers the lookups that arrive within one turn of the event loop into one database round trip
 * (DataLoader's technique). Under load each request otherwise pays a round trip of its own, whose
 * socket writes and reads cost the API process more than the rest of a small request; batched,
 * concurrent requests share them. A key asked for more than once in a turn (one API key or one
 * session behind concurrent requests, the common case for an integration or a browser) is looked
 * up once and its answer given to every caller: the same moment's answer, as each would have got.
 * Each lookup still gets only its own key's answer: the batch function returns one result per key,
 * in order.
 */
export class BatchedLookup<K, V> {
  private queue: {
    key: K;
    id: string;
    resolve: (value: V) => void;
    reject: (error: unknown) => void;
  }[] = [];

  /**
   * @param lookUpAll one answer per key, in the keys' order
   * @param idOf names a key: two keys with the same name are the same question
   */
  constructor(
    private readonly lookUpAll: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly idOf: (key: K) => string,
    private readonly maxBatch = 64,
  ) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.queue.push({ key, id: this.idOf(key), resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
      else if (this.queue.length >= this.maxBatch) this.flush();
    });
  }

  private flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const position = new Map<string, number>();
    const keys: K[] = [];
    for (const entry of batch) {
      if (position.has(entry.id)) continue;
      position.set(entry.id, keys.length);
      keys.push(entry.key);
    }
    this.lookUpAll(keys).then(
      (values) => {
        if (values.length !== keys.length) {
          const error = new Error(`Batched lookup answered ${values.length} of ${keys.length}`);
          for (const entry of batch) entry.reject(error);
          return;
        }
        for (const entry of batch) entry.resolve(values[position.get(entry.id)!]);
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
