/**
 * The base of every pbxctl command: shared flags (--debug), typed error handling with exit
 * codes (lib/exit-codes.ts) and no stack traces unless --debug.
 */
import { Command, Errors, Flags } from '@oclif/core';
import { PbxError } from './errors.js';
import { ExitCode } from './exit-codes.js';

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'Show stack traces and internal details on failure.', helpGroup: 'GLOBAL' }),
  };

  /** `--json` output: pretty-printed with a trailing newline (oclif's default omits it). */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  /** Prints a user-facing error (code, message, hint) and exits with its exit code. */
  protected override async catch(err: Error): Promise<unknown> {
    const debug = this.argv.includes('--debug');
    if (err instanceof Errors.ExitError) throw err;
    if (err instanceof PbxError) {
      if (this.jsonEnabled()) {
        this.logJson({ error: { code: err.code, message: err.message, hint: err.hint } });
      } else {
        this.logToStderr(`Error [${err.code}]: ${err.message}`);
        if (err.hint) this.logToStderr(`  hint: ${err.hint}`);
        if (debug && err.stack) this.logToStderr(err.stack);
      }
      return this.exit(err.exitCode);
    }
    // oclif's parser reports bad usage (unknown flag, missing argument) as CLIError; commands never use this.error().
    if (err instanceof Errors.CLIError) {
      this.logToStderr(`Error: ${err.message.split('\n')[0]}`);
      this.logToStderr(`  See: pbxctl ${this.id?.replace(/:/g, ' ') ?? ''} --help`);
      return this.exit(ExitCode.Usage);
    }
    this.logToStderr(`Internal error: ${err.message}`);
    this.logToStderr(debug && err.stack ? err.stack : '  This is a bug in pbxctl. Re-run with --debug for a stack trace and report it.');
    return this.exit(ExitCode.Internal);
  }
}
