import { TEST_MASTER_KEY_BASE64 } from '../../../../libs/crypto/src/testing/test-master-key';
import type { CliIo } from '../cli-io';

/**
 * The CLI's input and output for a test: a given environment, and what it printed. MASTER_KEY is
 * the tests' own unless the environment given says otherwise, as the API and projector of a test
 * use it too.
 */
export function capturedIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    env: { MASTER_KEY: TEST_MASTER_KEY_BASE64, ...env },
    out: '',
    err: '',
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
  };
  return io;
}
