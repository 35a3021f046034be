/**
 * Process exit codes, one table for every command (documented in README "Exit codes").
 * They follow Terraform's `-detailed-exitcode` convention where they overlap: 0 ok / no changes,
 * 1 error, 2 changes present (or drift).
 */
export enum ExitCode {
  /** Success; for plan/drift: no changes. */
  Ok = 0,
  /** Failure: validation errors, or an operational error. */
  Error = 1,
  /** plan --detailed-exitcode / drift: there are changes. */
  Changes = 2,
  /** Bad command-line usage (unknown flag, missing argument). */
  Usage = 64,
  /** Another apply holds the node's lock. */
  Locked = 75,
  /** A bug in pbxctl (an unexpected exception). */
  Internal = 70,
}
