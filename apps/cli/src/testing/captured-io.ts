import type { CliIo } from '../cli-io';

/** The CLI's input and output for a test: a given environment, and what it printed. */
export function capturedIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    env,
    out: '',
    err: '',
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
  };
  return io;
}
