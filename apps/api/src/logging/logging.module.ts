import { type DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';

/** The process's root pino logger, for structured log lines from providers. */
export const LOGGER = Symbol('Logger');

@Module({})
export class LoggingModule {
  static register(logger: Logger): DynamicModule {
    return {
      module: LoggingModule,
      global: true,
      providers: [{ provide: LOGGER, useValue: logger }],
      exports: [LOGGER],
    };
  }
}
