/** Where a command reads its environment and writes: the process, or a test's buffers. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Results: one JSON line per command, so scripts can parse them. */
  readonly stdout: (text: string) => void;
  /** Progress and errors, for the human at the terminal. */
  readonly stderr: (text: string) => void;
}
