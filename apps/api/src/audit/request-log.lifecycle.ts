import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { RequestLogWriter } from '@beecastle/audit';

/**
 * Writes the buffered request log on shutdown. Nest calls onApplicationShutdown after the HTTP
 * server has closed (so every request has finished and recorded itself), and calls it on this
 * module before the global DatabaseModule's, whose hook ends the pool: the last records are
 * written while the pool is still open. main.ts's first shutdown step, app.close(), runs all this.
 */
@Injectable()
export class RequestLogLifecycle implements OnApplicationShutdown {
  constructor(private readonly writer: RequestLogWriter) {}

  async onApplicationShutdown(): Promise<void> {
    await this.writer.close();
  }
}
