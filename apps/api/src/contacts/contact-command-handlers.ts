import type { Provider } from '@nestjs/common';

/** The contact write side's command handlers, one per use case folder. */
export const CONTACT_COMMAND_HANDLERS: Provider[] = [];
