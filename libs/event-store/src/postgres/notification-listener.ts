import type { Client, Notification } from 'pg';

export const EVENTS_CHANNEL = 'beecastle_events';

/** Called with the organisation an append notified, or `undefined` for "anything may have changed". */
export type WakeHandler = (organisationId: string | undefined) => void;

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/**
 * One LISTEN connection per store, shared by all its subscriptions; opened with the first
 * subscriber and kept until the store closes. When it drops it reconnects with backoff; every time
 * it (re)starts listening it wakes everyone, since commits made meanwhile went unannounced.
 * Subscriptions poll as well, so a missing listener only costs latency, never events.
 */
export class NotificationListener {
  private readonly handlers = new Set<WakeHandler>();
  private client: Client | undefined;
  private opening: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = FIRST_RETRY_MS;
  private closed = false;

  constructor(private readonly createClient: () => Client) {}

  add(handler: WakeHandler): () => void {
    this.handlers.add(handler);
    this.ensureListening();
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.handlers.clear();
    await this.opening;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private ensureListening(): void {
    if (this.closed || this.client || this.opening || this.retryTimer) return;
    this.opening = this.open().finally(() => {
      this.opening = undefined;
    });
  }

  private async open(): Promise<void> {
    const client = this.createClient();
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message: Notification) => {
      if (message.channel === EVENTS_CHANNEL) this.wake(message.payload || undefined);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch {
      await client.end().catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = FIRST_RETRY_MS;
    this.wake(undefined);
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.wake(undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.handlers.size > 0) this.ensureListening();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private wake(organisationId: string | undefined): void {
    for (const handler of this.handlers) handler(organisationId);
  }
}
