/**
 * Runs sipp (Debian package sip-tester, 3.6) as phones and carriers for `pbxctl lab call` and the
 * end-to-end tests: one process per scenario, bound to one loopback address/port, with its SIP
 * message log parsed into the messages it sent and received. Stops only its own PID.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { findProgram } from './binaries.js';
import { isProcessAlive, stopProcess } from './process.js';

/** Directory of the XML scenarios shipped with pbxctl (templates/sipp). */
export const SCENARIOS = fileURLToPath(new URL('../../templates/sipp/', import.meta.url));

/** Options of one sipp run. */
export interface SippOptions {
  /** Scenario: a file name in {@link SCENARIOS} (`uac-call.xml`) or an absolute path (`-sf`). */
  scenario: string;
  /** Remote `HOST:PORT` (Kamailio), the positional argument. */
  target: string;
  /** Local SIP address and port (`-i`, `-p`); sipp binds exactly there. */
  localIp: string;
  localPort: number;
  /** Media address and base port (`-mi`, `-mp`); sipp uses mp..mp+3. Default: localIp, none. */
  mediaIp?: string;
  mediaPort?: number;
  /** Calls to make or answer before exiting (`-m`), default 1. */
  calls?: number;
  /** Global timeout in seconds (`-timeout`, with `-timeout_error`), default 20. */
  timeoutSec?: number;
  /** Request-URI user (`-s`). */
  service?: string;
  /** Digest credentials for 401/407 (`-au`, `-ap`), used by the plain `[authentication]` keyword. */
  auth?: { user: string; password: string };
  /** Scenario keywords (`-key NAME VALUE`). */
  keys?: Record<string, string | number>;
  /** Default pause, ms (`-d`): the call duration in uac-call.xml. */
  durationMs?: number;
  /** Further sipp arguments, e.g. `['-r', '50']` (call rate per second). */
  extraArgs?: string[];
  /** Directory for the message log, stats and stdout. */
  workDir: string;
  /** Label for the log file names (unique within workDir). */
  name: string;
}

/** One SIP message from the message log. */
export interface SipTraceEntry {
  direction: 'sent' | 'received';
  /** The start line: `INVITE sip:... SIP/2.0` or `SIP/2.0 200 OK`. */
  startLine: string;
  /** Response code, for responses. */
  status?: number;
  /** Request method, for requests. */
  method?: string;
  /** The whole message. */
  text: string;
}

/** What a sipp run produced. */
export interface SippResult {
  /** sipp's exit code: 0 every call succeeded, 1 some failed, 97/99 other normal ends, 255/254 fatal; null if killed. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** SuccessfulCall(C) / FailedCall(C) from the statistics file; undefined when sipp wrote none. */
  successful?: number;
  failed?: number;
  messages: SipTraceEntry[];
  /** Status codes of the responses it received, in order. */
  responses: number[];
  /** Request lines it received, in order. */
  requests: string[];
  /** Tail of its stdout/stderr, for failure messages. */
  output: string;
  /** The command line, for failure messages. */
  command: string[];
}

/** A running sipp process. */
export interface SippRun {
  pid: number;
  /** Settles when sipp exits. */
  done: Promise<SippResult>;
  /** Stops exactly this sipp (SIGTERM, then SIGKILL) and waits for its result. */
  stop(): Promise<SippResult>;
}

/** Parses a sipp `-message_file` log into messages (blocks start with a dashed timestamp line). */
export function parseMessageLog(text: string): SipTraceEntry[] {
  const out: SipTraceEntry[] = [];
  for (const block of text.split(/^-{10,} .*$/m)) {
    const head = /^\s*(?:UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n\s*\n/.exec(block);
    if (!head) continue;
    const body = block.slice(head[0].length).replace(/^\s+/, '');
    const startLine = body.split(/\r?\n/, 1)[0]!.trim();
    const entry: SipTraceEntry = { direction: head[1] as 'sent' | 'received', startLine, text: body };
    const status = /^SIP\/2\.0 (\d{3})\b/.exec(startLine);
    if (status) entry.status = Number(status[1]);
    else entry.method = startLine.split(' ', 1)[0];
    out.push(entry);
  }
  return out;
}

/** Last data row of a `-trace_stat` CSV (`;`-separated, header first) as name -> value. */
function lastStats(file: string): Record<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.trim().split('\n');
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? '']));
}

/** The sipp command line for `o`. @throws PbxError LAB_BINARY_MISSING when sipp is not installed */
export function sippCommand(o: SippOptions): string[] {
  const scenario = isAbsolute(o.scenario) ? o.scenario : join(SCENARIOS, o.scenario);
  const args = [
    findProgram('sipp'), o.target, '-sf', scenario,
    '-i', o.localIp, '-p', String(o.localPort),
    '-m', String(o.calls ?? 1),
    '-timeout', `${o.timeoutSec ?? 20}s`, '-timeout_error',
    '-nostdin', '-max_recv_loops', '1000',
    '-trace_msg', '-message_file', join(o.workDir, `${o.name}.messages.log`),
    '-trace_err', '-error_file', join(o.workDir, `${o.name}.errors.log`),
    '-trace_stat', '-stf', join(o.workDir, `${o.name}.stats.csv`), '-fd', '1',
  ];
  args.push('-mi', o.mediaIp ?? o.localIp);
  if (o.mediaPort !== undefined) args.push('-mp', String(o.mediaPort));
  if (o.service !== undefined) args.push('-s', o.service);
  if (o.auth) args.push('-au', o.auth.user, '-ap', o.auth.password);
  if (o.durationMs !== undefined) args.push('-d', String(o.durationMs));
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, String(v));
  args.push(...(o.extraArgs ?? []));
  return args;
}

/**
 * True when a UDP socket is bound to `ip:port`, read from /proc/net/udp (no bind attempt, so this
 * probe can never steal the port from the process being waited for).
 */
function udpPortBound(ip: string, port: number): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return true; // no procfs: assume ready
  }
  // local_address is "IIIIIIII:PPPP": the IPv4 address as a little-endian hex word, the port in hex.
  const hexIp = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).reverse().join('').toUpperCase();
  const want = [`${hexIp}:${port.toString(16).toUpperCase().padStart(4, '0')}`, `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`];
  return table.split('\n').some((line) => want.includes(line.trim().split(/\s+/)[1] ?? ''));
}

/**
 * Starts sipp and, once its SIP port is bound (so a UAS is ready for calls), returns.
 * @throws Error when sipp exits or does not bind its port within 5 s (with its output)
 */
export async function startSipp(o: SippOptions): Promise<SippRun> {
  const command = sippCommand(o);
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, args, { cwd: o.workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${program}`);
  let exited = false;
  const done = new Promise<SippResult>((resolve) => {
    child.once('close', (code, signal) => {
      exited = true;
      let messages: SipTraceEntry[] = [];
      try {
        messages = parseMessageLog(readFileSync(join(o.workDir, `${o.name}.messages.log`), 'utf8'));
      } catch {
        // no message log: sipp failed before sending anything
      }
      const stats = lastStats(join(o.workDir, `${o.name}.stats.csv`));
      const num = (k: string) => (stats?.[k] !== undefined && stats[k] !== '' ? Number(stats[k]) : undefined);
      resolve({
        exitCode: code,
        signal,
        successful: num('SuccessfulCall(C)'),
        failed: num('FailedCall(C)'),
        messages,
        responses: messages.filter((m) => m.direction === 'received' && m.status !== undefined).map((m) => m.status!),
        requests: messages.filter((m) => m.direction === 'received' && m.method !== undefined).map((m) => m.startLine),
        output: output.slice(-3000),
        command,
      });
    });
  });
  const stop = async () => {
    if (!exited && isProcessAlive(pid)) await stopProcess(pid, { timeoutMs: 2000 });
    return done;
  };
  const deadline = Date.now() + 5000;
  while (!udpPortBound(o.localIp, o.localPort)) {
    if (exited || Date.now() > deadline) {
      const r = await stop();
      throw new Error(`sipp ${o.name} did not bind ${o.localIp}:${o.localPort} (exit ${r.exitCode}):\n${command.join(' ')}\n${r.output}`);
    }
    await sleep(20);
  }
  return { pid, done, stop };
}

/** Runs sipp to completion. @throws as {@link startSipp} */
export async function runSipp(o: SippOptions): Promise<SippResult> {
  return (await startSipp(o)).done;
}

/** A one-line summary of a result for assertion messages. */
export function describeSipp(r: SippResult): string {
  return `exit ${r.exitCode}${r.signal ? ` (${r.signal})` : ''}, responses [${r.responses.join(' ')}], requests [${r.requests.join(' | ')}]\n${r.command.join(' ')}\n${r.output.slice(-1500)}`;
}
