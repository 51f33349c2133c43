/**
 * Gathers the lookups that arrive within one turn of the event loop into one database round trip
 * (DataLoader's technique). Under load each request otherwise pays a round trip of its own, whose
 * socket writes and reads cost the API process more than the rest of a small request; batched,
 * concurrent requests share them. Each lookup still gets only its own answer: the batch function
 * returns one result per key, in order.
 */
export class BatchedLookup<K, V> {
  private queue: { key: K; resolve: (value: V) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly lookUpAll: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly maxBatch = 64,
  ) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
      else if (this.queue.length >= this.maxBatch) this.flush();
    });
  }

  private flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.lookUpAll(batch.map((entry) => entry.key)).then(
      (values) => {
        if (values.length !== batch.length) {
          const error = new Error(`Batched lookup answered ${values.length} of ${batch.length}`);
          for (const entry of batch) entry.reject(error);
          return;
        }
        batch.forEach((entry, i) => entry.resolve(values[i]));
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
