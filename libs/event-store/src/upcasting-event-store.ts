import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeToAllOptions,
  Subscription,
  SubscriptionMessage,
} from './event-store.port';

/**
 * Turns an event stored at `fromVersion` of `type` into the shape of `fromVersion + 1`. Upcasters
 * work on decoded JSON and may rename the type. They run in the read path only: the log keeps what
 * was written, so hashes never change.
 */
export interface Upcaster {
  readonly type: string;
  readonly fromVersion: number;
  upcast(data: unknown): { type?: string; data: unknown };
}

export class UpcasterRegistry {
  private readonly byKey = new Map<string, Upcaster>();

  constructor(upcasters: readonly Upcaster[] = []) {
    for (const u of upcasters) this.register(u);
  }

  register(upcaster: Upcaster): void {
    const key = `${upcaster.type}@${upcaster.fromVersion}`;
    if (this.byKey.has(key)) throw new Error(`Two upcasters for ${key}`);
    this.byKey.set(key, upcaster);
  }

  upcast(event: RecordedEvent): RecordedEvent {
    let current = event;
    let step = this.byKey.get(`${current.type}@${current.schemaVersion}`);
    if (!step) return event;
    let data: unknown = JSON.parse(Buffer.from(current.data).toString('utf8'));
    while (step) {
      const next = step.upcast(data);
      data = next.data;
      current = {
        ...current,
        type: next.type ?? current.type,
        schemaVersion: current.schemaVersion + 1,
      };
      step = this.byKey.get(`${current.type}@${current.schemaVersion}`);
    }
    return { ...current, data: Buffer.from(JSON.stringify(data), 'utf8') };
  }
}

/** Decorates any adapter so every read (stream, all, subscription) comes back upcast. */
export class UpcastingEventStore implements EventStore {
  constructor(
    private readonly inner: EventStore,
    private readonly upcasters: UpcasterRegistry,
  ) {}

  appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    return this.inner.appendToStream(stream, events, options);
  }

  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.inner.appendToStreams(appends);
  }

  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return (await this.inner.readStream(stream, options)).map((e) => this.upcasters.upcast(e));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.inner.readAll(options)).map((e) => this.upcasters.upcast(e));
  }

  subscribeToAll(options?: SubscribeToAllOptions): Subscription {
    const inner = this.inner.subscribeToAll(options);
    const registry = this.upcasters;
    return {
      close: () => inner.close(),
      async *[Symbol.asyncIterator](): AsyncIterator<SubscriptionMessage> {
        for await (const message of inner) {
          yield message.kind === 'event'
            ? { kind: 'event', event: registry.upcast(message.event) }
            : message;
        }
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
