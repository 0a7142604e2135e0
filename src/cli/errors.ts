/**
 * The user CLI's two kinds of failure, by exit code: a usage error (2: the command line itself
 * is wrong, nothing was attempted) and a failure (1: the command ran and did not succeed).
 * Errors from the SDK (StreamLineError) and the file system are failures too (see main.ts).
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  override name = 'UsageError';
}

export class CliFailure extends Error {
  readonly exitCode = 1;
  override name = 'CliFailure';
}

/** Ctrl-C: what was saved so far is kept; 130 is the shell's code for "ended by SIGINT". */
export class Interrupted extends Error {
  readonly exitCode = 130;
  override name = 'Interrupted';
  constructor() {
    super('interrupted: run the same command again to continue where it stopped');
  }
}
