/**
 * Running the node's daemons in the foreground as detached children whose output goes to a log
 * file, waiting until they answer, and stopping exactly the process that was started.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PbxError } from '../lib/errors.js';

/** A daemon started by this module. */
export interface LabProcess {
  /** `kamailio`, `rtpengine` or `pbxctl daemon`: a string its command line contains. */
  name: string;
  /** PID of the process that was spawned (the daemon itself: both run in the foreground). */
  pid: number;
  /** File receiving its stdout and stderr (appended to). */
  logFile: string;
  /** The command line, program first. */
  command: string[];
}

/** How {@link stopProcess} ended. */
export type StopResult = 'stopped' | 'killed' | 'not-running' | 'not-ours';

/**
 * True while `pid` exists and is not a zombie (a child that exited but was not reaped yet).
 * @param pid a process id (> 0)
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/** The command line of `pid` from /proc (NUL-separated arguments), or undefined if unreadable. */
function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of a log file, for error messages ('' when unreadable). */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Spawns `command` detached (own session, so a terminal's Ctrl-C does not reach it and the caller
 * may exit while it runs) with stdin closed and stdout+stderr appended to `logFile`.
 * @returns the process handle and an `exited` promise that settles with the exit code or signal
 *   (only useful while the caller lives)
 * @throws PbxError LAB_START_FAILED when the program cannot be spawned at all
 */
export function spawnLogged(name: string, command: string[], logFile: string): { proc: LabProcess; exited: Promise<string> } {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const [program, ...args] = command as [string, ...string[]];
    const child = spawn(program, args, { detached: true, stdio: ['ignore', fd, fd] });
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
      child.once('error', (err) => resolve(`spawn error: ${err.message}`));
    });
    child.unref();
    if (child.pid === undefined) {
      throw new PbxError('LAB_START_FAILED', `could not start ${name} (${program})`, { hint: `See ${logFile}.` });
    }
    return { proc: { name, pid: child.pid, logFile, command }, exited };
  } finally {
    closeSync(fd);
  }
}

/**
 * Polls `probe` every `intervalMs` until it returns true, the process exits, or `timeoutMs` passes.
 * On failure the started process is stopped (exactly its PID) and the error quotes its log.
 * @param proc the process being waited for
 * @param exited its exit promise from {@link spawnLogged}
 * @param probe one readiness check; exceptions count as "not ready yet"
 * @param what what readiness means, for the error ("JSON-RPC core.version on 127.0.0.1:5081")
 * @throws PbxError LAB_START_FAILED (exited early) or LAB_NOT_READY (timeout), with the log's tail
 */
export async function waitReady(
  proc: LabProcess,
  exited: Promise<string>,
  probe: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  let exitStatus: string | undefined;
  void exited.then((s) => (exitStatus = s));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitStatus !== undefined) {
      throw new PbxError('LAB_START_FAILED', `${proc.name} (pid ${proc.pid}) exited during startup (${exitStatus}). Last log lines of ${proc.logFile}:\n${logTail(proc.logFile)}`, {
        hint: 'Fix the error quoted from the log; a port in use or a broken configuration are the usual causes.',
      });
    }
    if (await probe().catch(() => false)) return;
    await sleep(intervalMs);
  }
  await stopProcess(proc.pid);
  throw new PbxError('LAB_NOT_READY', `${proc.name} (pid ${proc.pid}) did not answer ${what} within ${timeoutMs} ms; it was stopped. Last log lines of ${proc.logFile}:\n${logTail(proc.logFile)}`);
}

/**
 * Stops exactly process `pid`: SIGTERM, wait up to `timeoutMs`, then SIGKILL. Signals no other
 * PID, and its process group only with `opts.group`.
 * @param pid the PID to stop
 * @param opts.timeoutMs grace period after SIGTERM, default 5000 ms
 * @param opts.expectCommand when set, the process is only signalled if its command line (from
 *   /proc/PID/cmdline) contains this string: protects against a recycled PID from a stale pid file
 * @returns `stopped` (exited after SIGTERM), `killed` (needed SIGKILL), `not-running`, or `not-ours`
 *   (alive but its command line does not match `expectCommand`; left alone)
 * @param opts.group also SIGKILL the rest of its process group (the daemon's workers), which must
 *   be a group spawnLogged created: the process leads it
 * @throws PbxError LAB_STOP_FAILED when it survives SIGKILL for 2 s, or signalling is not permitted
 */
export async function stopProcess(pid: number, opts: { timeoutMs?: number; expectCommand?: string; group?: boolean } = {}): Promise<StopResult> {
  const result = await stopOne(pid, opts);
  // A daemon started by spawnLogged leads its own process group. If its main process died hard
  // (SIGKILL, OOM), its workers live on as orphans in that group: end them too.
  if (opts.group && result !== 'not-ours') {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // no such group left: nothing to clean
    }
  }
  return result;
}

async function stopOne(pid: number, opts: { timeoutMs?: number; expectCommand?: string }): Promise<StopResult> {
  if (!isProcessAlive(pid)) return 'not-running';
  if (opts.expectCommand !== undefined) {
    const cmd = commandLine(pid);
    if (cmd && !cmd.join(' ').includes(opts.expectCommand)) return 'not-ours';
  }
  const signal = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(pid, sig);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return false;
      throw new PbxError('LAB_STOP_FAILED', `cannot send ${sig} to pid ${pid}: ${code ?? (err as Error).message}`);
    }
  };
  const gone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!isProcessAlive(pid)) return true;
      await sleep(50);
    }
    return !isProcessAlive(pid);
  };
  if (!signal('SIGTERM')) return 'not-running';
  if (await gone(opts.timeoutMs ?? 5000)) return 'stopped';
  if (!signal('SIGKILL')) return 'stopped';
  if (await gone(2000)) return 'killed';
  throw new PbxError('LAB_STOP_FAILED', `pid ${pid} is still running after SIGKILL`);
}
