/**
 * Operational errors: failures a user can act on (a missing directory, a locked node),
 * each with a stable code and a process exit code. A plain `Error` anywhere means a bug.
 */
import { ExitCode } from './exit-codes.js';

/** A failure the user can fix; rendered as `Error [CODE]: message` plus the hint, no stack trace. */
export class PbxError extends Error {
  /**
   * @param code stable machine-readable code, e.g. `REPO_NOT_FOUND`
   * @param message what went wrong, naming the file/target involved
   * @param options.hint how to fix it; options.exitCode defaults to ExitCode.Error (1)
   */
  constructor(
    readonly code: string,
    message: string,
    readonly options: { hint?: string; exitCode?: ExitCode; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PbxError';
  }

  get exitCode(): ExitCode {
    return this.options.exitCode ?? ExitCode.Error;
  }

  get hint(): string | undefined {
    return this.options.hint;
  }
}
