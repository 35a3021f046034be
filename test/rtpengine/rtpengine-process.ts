/**
 * Start a real rtpengine for end-to-end tests, as /work/shared/NODE-FACTS.md describes: userspace
 * only (`--table=-1`), no config file, NG on 127.0.0.1, in the foreground, logging to stderr.
 *
 * Ports: each instance takes one block of {@link BLOCK} ports below the Linux ephemeral range
 * (32768+, where the kernel picks client ports): the NG port, then the media range. The first
 * block tried is derived from the pid and the vitest pool id, so parallel workers and parallel
 * runs start apart; a block whose NG port is taken (or which rtpengine fails to bind) is skipped.
 *
 * Stopping kills exactly the PID this helper spawned (SIGTERM, then SIGKILL after 5 s), never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { NgClient } from '../../src/rtpengine/ng-client.js';

/** Ports per instance: 1 NG port + 63 media ports (enough for ~15 concurrent calls in one test). */
export const BLOCK = 64;
const FIRST_PORT = 12_000;
const LAST_PORT = 32_767;
const BLOCKS = Math.floor((LAST_PORT - FIRST_PORT + 1) / BLOCK);

/** A running rtpengine owned by this test process. */
export interface RtpengineProcess {
  /** The PID spawned (also written by rtpengine to `pidFile`). */
  readonly pid: number;
  readonly host: '127.0.0.1';
  /** `--listen-ng` UDP port. */
  readonly ngPort: number;
  /** `--port-min` / `--port-max`: media ports rtpengine allocates. */
  readonly portMin: number;
  readonly portMax: number;
  readonly pidFile: string;
  /** The full command line used. */
  readonly args: readonly string[];
  /** stderr so far (the last 256 KiB). */
  logs(): string;
  /** A new NG client for this instance (close it yourself). */
  client(options?: { timeoutMs?: number; retries?: number }): NgClient;
  /** SIGTERM this PID, SIGKILL after 5 s; resolves when it has exited; idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startRtpengine}. */
export interface StartOptions {
  /** Extra command-line arguments, e.g. `['--delete-delay=0']`. */
  extraArgs?: string[];
  /** How long to wait for `ping` → `pong`, in ms; default 15000. */
  readyTimeoutMs?: number;
}

/**
 * Path of the rtpengine binary: `$RTPENGINE_BIN` if set (then only that), else `rtpengine` on
 * PATH, /usr/bin or /usr/sbin.
 * @throws Error naming the Debian package `rtpengine-daemon` when none is executable
 */
export function findRtpengine(): string {
  const override = process.env.RTPENGINE_BIN;
  const candidates = override
    ? [override]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'rtpengine')), '/usr/bin/rtpengine', '/usr/sbin/rtpengine'];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  throw new Error(
    `rtpengine is not installed (looked for ${candidates.join(', ')}), and the RTPengine end-to-end tests need it: ` +
      'install the Debian package `rtpengine-daemon` (sudo apt-get install rtpengine-daemon), or set RTPENGINE_BIN to the binary.',
  );
}

function firstBlock(): number {
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  return (process.pid * 31 + pool * 97) % BLOCKS;
}

/** True if nothing on 127.0.0.1 holds this UDP port right now. */
async function udpPortFree(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Spawn rtpengine on a free port block and wait until it answers `ping` with `pong`.
 * @throws Error if the binary is missing (with the install hint), or if it exits or does not
 *   answer within `readyTimeoutMs` on 5 port blocks in a row (with its stderr)
 */
export async function startRtpengine(options: StartOptions = {}): Promise<RtpengineProcess> {
  const bin = findRtpengine();
  const start = firstBlock();
  const failures: string[] = [];
  for (let i = 0; i < 5; i++) {
    const block = (start + i * 7) % BLOCKS;
    const ngPort = FIRST_PORT + block * BLOCK;
    if (!(await udpPortFree(ngPort))) {
      failures.push(`port ${ngPort} busy`);
      continue;
    }
    const started = await tryStart(bin, ngPort, options);
    if ('proc' in started) return started.proc;
    failures.push(started.failure);
  }
  throw new Error(`could not start rtpengine:\n${failures.join('\n---\n')}`);
}

async function tryStart(bin: string, ngPort: number, options: StartOptions): Promise<{ proc: RtpengineProcess } | { failure: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pbxctl-rtpengine-'));
  const pidFile = join(dir, 'rtpengine.pid');
  const portMin = ngPort + 1;
  const portMax = ngPort + BLOCK - 1;
  const args = [
    '--config-file=none',
    '--table=-1',
    '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    '--foreground',
    '--log-stderr',
    `--pidfile=${pidFile}`,
    ...(options.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    log = (log + chunk).slice(-256 * 1024);
  });
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
    child.once('error', (err) => {
      exitInfo = `could not be spawned: ${err.message}`;
      resolve();
    });
  });
  const pid = child.pid;
  // If the test process dies without afterAll, do not leave this rtpengine behind.
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (exitInfo === undefined && pid !== undefined) process.kill(pid, signal);
    } catch {
      /* already gone (ESRCH) */
    }
  };
  const onExit = () => kill('SIGKILL');
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (exitInfo === undefined && pid !== undefined) {
        kill('SIGTERM');
        const killer = setTimeout(() => kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  const probe = new NgClient({ host: '127.0.0.1', port: ngPort, timeoutMs: 200, retries: 0 });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  let lastError = '';
  let ready = false;
  try {
    while (exitInfo === undefined && Date.now() < deadline) {
      try {
        await probe.ping();
        ready = true;
        break;
      } catch (err) {
        lastError = (err as Error).message;
        await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
      }
    }
  } finally {
    await probe.close();
  }
  if (!ready || exitInfo !== undefined || pid === undefined) {
    await stop();
    return { failure: `rtpengine ${args.join(' ')}: ${exitInfo ?? `no pong (${lastError})`}\n${log.slice(-4000)}` };
  }

  const proc: RtpengineProcess = {
    pid,
    host: '127.0.0.1',
    ngPort,
    portMin,
    portMax,
    pidFile,
    args,
    logs: () => log,
    client: (o = {}) => new NgClient({ host: '127.0.0.1', port: ngPort, ...o }),
    stop,
  };
  return { proc };
}

/** The PID rtpengine wrote to its pidfile (it writes it after startup). */
export function readPidFile(proc: RtpengineProcess): number {
  return Number(readFileSync(proc.pidFile, 'utf8').trim());
}
