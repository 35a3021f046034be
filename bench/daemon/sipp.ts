/** sipp drivers of the daemon section: command lines, runs with their per-call logs, call counts, and draining the daemon between runs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { findProgram } from '../../src/lab/binaries.js';
import type { CallCounts, DaemonBenchDeps } from './types.js';
import { read, waitFor } from './stats.js';
import { BENCH_KEEPALIVE_S, type BenchNode, KAMAILIO_FR_MS, sippChildren, sippMediaPorts } from './node.js';
import { api, apiPost } from './api.js';

export const SCENARIOS = join('bench', 'sipp');

export interface SippCall {
  inv?: number;
  ok?: number;
  fail?: number;
  dtmf?: number;
  end?: number;
}

export interface SippRun {
  command: string[];
  exitCode: number | null;
  calls: Map<string, SippCall>;
  stats?: Record<string, string>;
  output: string;
  errorLog: string;
}

export interface SippSpec {
  name: string;
  scenario: string;
  target: string;
  localIp: string;
  localPort: number;
  mediaPort: number;
  args: string[];
}

export function sippCommand(deps: DaemonBenchDeps, node: BenchNode, s: SippSpec): string[] {
  const w = (ext: string) => join(node.work, `${s.name}.${ext}`);
  sippMediaPorts.add(s.mediaPort);
  return [
    findProgram('sipp'), s.target, '-sf', join(deps.root, SCENARIOS, s.scenario),
    '-i', s.localIp, '-p', String(s.localPort), '-mi', s.localIp, '-mp', String(s.mediaPort),
    '-nostdin', '-max_recv_loops', '1000',
    '-trace_logs', '-log_file', w('log'),
    '-trace_err', '-error_file', w('errors.log'),
    '-trace_stat', '-stf', w('stats.csv'), '-fd', '1',
    ...s.args,
  ];
}

export function spawnSipp(command: string[], cwd: string): { child: ChildProcess; done: Promise<{ exitCode: number | null; output: string }> } {
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  sippChildren.add(child);
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString('utf8')).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const done = new Promise<{ exitCode: number | null; output: string }>((resolve) => {
    child.once('close', (code) => {
      sippChildren.delete(child);
      resolve({ exitCode: code, output });
    });
    child.once('error', (e) => {
      sippChildren.delete(child);
      resolve({ exitCode: null, output: `${output}\n${e.message}` });
    });
  });
  return { child, done };
}

/** Runs a UAC scenario to the end and parses its per-call log and last statistics row. */
export async function runUac(deps: DaemonBenchDeps, node: BenchNode, s: SippSpec): Promise<SippRun> {
  const command = sippCommand(deps, node, s);
  const { exitCode, output } = await spawnSipp(command, node.work).done;
  const calls = new Map<string, SippCall>();
  for (const line of read(join(node.work, `${s.name}.log`)).split('\n')) {
    const m = /^(inv|ok|fail|dtmf|end) (\S+) .*\s(\d+\.\d+)\s*$/.exec(line);
    if (!m) continue;
    const c = calls.get(m[2]!) ?? {};
    c[m[1] as keyof SippCall] = Number(m[3]) * 1000;
    calls.set(m[2]!, c);
  }
  const statLines = read(join(node.work, `${s.name}.stats.csv`)).trim().split('\n');
  const names = statLines[0]?.split(';') ?? [];
  const values = statLines.length > 1 ? statLines[statLines.length - 1]!.split(';') : [];
  const stats = values.length ? Object.fromEntries(names.map((n, i) => [n, values[i] ?? ''])) : undefined;
  return { command, exitCode, calls, ...(stats ? { stats } : {}), output: output.slice(-3000), errorLog: read(join(node.work, `${s.name}.errors.log`)).slice(0, 20_000) };
}

export function counts(run: SippRun): CallCounts {
  const all = [...run.calls.values()].filter((c) => c.inv !== undefined);
  const succeeded = all.filter((c) => c.ok !== undefined && c.end !== undefined && c.fail === undefined).length;
  const stat = (k: string) => (run.stats?.[k] ? { [k === 'FailedCall(C)' ? 'sippFailed' : 'sippRetransmissions']: Number(run.stats[k]) } : {});
  return { attempted: all.length, succeeded, failed: all.length - succeeded, ...stat('FailedCall(C)'), ...stat('Retransmissions(C)'), sippExitCode: run.exitCode };
}

/**
 * The command, exit code and the first errors sipp logged, without the benign ones: the hold's
 * receive timeout (uac-ext-bench.xml ends its 100 ms hold that way) and retransmissions that arrive
 * after a call ended successfully.
 */
export function describeRun(run: SippRun): string {
  const entries = run.errorLog.split(/(?=\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\.\d+\t\d+\.\d+: )/).map((e) => e.trim()).filter((e) => e !== '');
  const real = entries.filter((e) => /^\d{4}-/.test(e) && !/receive timeout on message uac-ext-bench|Dead call .* \(successful\)/.test(e));
  const shown = real.slice(0, 3).map((e) => `      ${e.replace(/\s+/g, ' ').slice(0, 300)}`);
  const fatal = run.exitCode !== 0 && run.exitCode !== 1 ? `\n${run.output.trim().split('\n').slice(-8).map((l) => `      ${l}`).join('\n')}` : '';
  return `      ${run.command.join(' ').slice(0, 300)}${fatal}\n      sipp exit ${run.exitCode}; ${real.length} errors in the first 20,000 characters of its error log${shown.length ? `, first ones:\n${shown.join('\n')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/** Lines of kamailio.log saying the daemon did not answer a relayed INVITE within 3 s (Kamailio then answers 503). */
export function daemonNoAnswers(node: BenchNode): number {
  return read(join(node.root, 'log', 'kamailio.log')).split('\n').filter((l) => l.includes('feature daemon at') && l.includes('did not answer')).length;
}

/** Calls the daemon has in progress (GET /v1/health). */
export async function liveCalls(node: BenchNode): Promise<number> {
  return (JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/health')).body) as { calls: number }).calls;
}

/**
 * Calls still up 30 s after a run (their caller's BYE was lost): `keepalive` the daemon's OPTIONS
 * keepalive ended by itself, `calls` the bench had to hang up through the API after that.
 */
export const stuck = { calls: 0, keepalive: 0 };

/**
 * Waits until the daemon has no call left. Calls still up after 30 s (a lost BYE) get the daemon's
 * keepalive time to end (interval + Kamailio's 408 + 5 s; they are counted in `stuck.keepalive`);
 * what is left then is hung up through the API and counted in `stuck.calls`.
 */
export async function drained(node: BenchNode, what: string, log: (l: string) => void): Promise<void> {
  try {
    await waitFor(`${what}: the daemon to end every call`, async () => (await liveCalls(node)) === 0, 30_000, 200);
  } catch {
    const left = await liveCalls(node);
    const graceMs = BENCH_KEEPALIVE_S * 1000 + KAMAILIO_FR_MS + 5000;
    log(`  ${left} calls still up in the daemon 30 s after ${what}; giving its keepalive ${graceMs / 1000} s to end them`);
    try {
      await waitFor(`${what}: the daemon's keepalive to end the calls left`, async () => (await liveCalls(node)) === 0, graceMs, 500);
      stuck.keepalive += left;
      return;
    } catch {
      // some did not end: counted and hung up below
    }
    const { calls } = JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/calls')).body) as { calls: { callId: string; state: string; step?: string }[] };
    stuck.keepalive += Math.max(0, left - calls.length);
    const kinds = new Map<string, number>();
    for (const c of calls) kinds.set(`${c.state}/${c.step ?? '-'}`, (kinds.get(`${c.state}/${c.step ?? '-'}`) ?? 0) + 1);
    log(`  WARNING: ${calls.length} calls still up in the daemon after its keepalive had its time, after ${what} (state/step: ${[...kinds].map(([k, v]) => `${k} x${v}`).join(', ')}; e.g. ${calls[0]?.callId}); hanging them up through the API`);
    stuck.calls += calls.length;
    for (const c of calls) await apiPost(node.ports.daemonApi, node.token, `/v1/calls/${encodeURIComponent(c.callId)}/hangup`);
    await waitFor(`${what}: the daemon to end the calls hung up through the API`, async () => (await liveCalls(node)) === 0, 30_000, 200);
  }
}
