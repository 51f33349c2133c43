import type { Client, Notification } from 'pg';

/**
 * What a channel's subscriber hears: a notification's payload (`''` when it carried none), or
 * `undefined` for "notifications may have been missed": the session has just started listening, or
 * has just been lost. A subscriber that caches what notifications invalidate must then drop it.
 */
export type ChannelHandler = (payload: string | undefined) => void;

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;
// Interpolated into LISTEN, which takes no bind parameter.
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * One LISTEN session on one channel, shared by all its subscribers: opened with the first and
 * kept until close(). When the connection drops it reconnects with backoff (100 ms doubling to
 * 5 s). Every start and every loss tells the subscribers `undefined` (see ChannelHandler), since
 * what was notified while nobody listened went unheard. `listening()` is true only between a
 * start and the next loss, for callers that may trust a cache only while invalidations arrive.
 */
export class ChannelListener {
  private readonly handlers = new Set<ChannelHandler>();
  private client: Client | undefined;
  private active = false;
  private opening: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = FIRST_RETRY_MS;
  private closed = false;

  constructor(
    private readonly channel: string,
    private readonly createClient: () => Client,
  ) {
    if (!CHANNEL_NAME.test(channel)) throw new RangeError(`Not a channel name: ${channel}`);
  }

  listening(): boolean {
    return this.active;
  }

  /** Subscribes (and starts listening if nobody was); returns the unsubscribe. */
  add(handler: ChannelHandler): () => void {
    this.handlers.add(handler);
    this.ensureListening();
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.active = false;
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
    // The session listens on this channel only, so every notification it hears is one of ours.
    client.on('notification', (message: Notification) => this.tell(message.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
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
    this.tell(undefined);
    this.active = true;
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.active = false;
    void client.end().catch(() => undefined);
    this.tell(undefined);
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

  private tell(payload: string | undefined): void {
    for (const handler of this.handlers) handler(payload);
  }
}
