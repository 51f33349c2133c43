/** What scripts and schedulers can rely on, whatever the command. */
export const ExitCode = {
  /** Done; for `verify`, the chain is intact. */
  Ok: 0,
  /** The command ran and found a failure: for `verify`, a broken chain. */
  Failed: 1,
  /** Wrong arguments or configuration: fix the invocation. */
  Usage: 2,
  /** It could not run to the end (database unreachable, a migration failed): try again or investigate. */
  Unavailable: 3,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
