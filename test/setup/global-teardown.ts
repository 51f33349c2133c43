import { rm } from 'node:fs/promises';
import type { EmbeddedPostgresHandle } from '../../libs/database/src/embedded-postgres';

export default async function globalTeardown(): Promise<void> {
  const state = (
    globalThis as { __BEECASTLE_PG__?: { server: EmbeddedPostgresHandle; workDir: string } }
  ).__BEECASTLE_PG__;
  if (!state) return;
  await state.server.stop();
  await rm(state.workDir, { recursive: true, force: true });
}
