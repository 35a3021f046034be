/**
 * The feature daemon for a lab node: `pbxctl daemon` (src/commands/daemon.ts) run in the
 * foreground as a detached child like Kamailio and RTPengine (process.ts), with its API token in
 * ROOT/etc/daemon.token. Readiness is GET /v1/health answering on its API port. Start it after
 * RTPengine and Kamailio: it talks NG to RTPengine and sends its SIP through Kamailio.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../daemon/daemon-client.js';
import { spawnLogged, waitReady, type LabProcess } from './process.js';

/** The pbxctl entry point next to this module (src/lab or dist/lab: both are two levels below the package). */
export const PBXCTL_BIN = fileURLToPath(new URL('../../bin/pbxctl', import.meta.url));

/**
 * The daemon's process name (LabProcess.name), which its command line contains: what stopProcess's
 * `expectCommand` checks in /proc/PID/cmdline before signalling a recorded PID.
 */
export const DAEMON_COMMAND_MARK = 'pbxctl daemon';

/** Options of {@link startFeatureDaemon}; the flags of `pbxctl daemon`. */
export interface FeatureDaemonOptions {
  /** Node root (holds current -> releases/<id>). */
  root: string;
  /** SIP (UDP/TCP) and RTP address of the daemon, an IP literal. */
  sipAddress: string;
  /** The daemon's SIP port: Kamailio's PBX_DAEMON_PORT. */
  sipPort: number;
  /** Kamailio's SIP `HOST:PORT`. */
  kamailio: string;
  /** RTPengine's NG `HOST:PORT`. */
  ng: string;
  /** HTTP API port on 127.0.0.1. */
  apiPort: number;
  /** File holding the API bearer token (see {@link writeDaemonToken}). */
  tokenFile: string;
  /** The daemon's own RTP port range, inclusive. */
  rtpMin: number;
  rtpMax: number;
  /** Persistent daemon state (ring-group rotation). */
  stateDir: string;
  /** Kamailio's evapi `HOST:PORT` (call and registration events for CDRs); omitted: `--evapi` is not passed. */
  evapi?: string;
  /** `--keepalive-interval` in seconds (0: off); omitted: the daemon's default (30 s). */
  keepaliveSeconds?: number;
  /** PID file written once the process is spawned (`pbxctl daemon` writes none itself). */
  pidFile: string;
  /** Log file receiving stdout and stderr (appended). */
  logFile: string;
  /** How long to wait for /v1/health, ms; default 20000 (Node and oclif start in ~1 s, slower on CI). */
  timeoutMs?: number;
}

/**
 * Writes a new API token (32 random bytes, hex) to `file`, readable by its owner only.
 * @returns the token
 */
export async function writeDaemonToken(file: string): Promise<string> {
  const token = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
  return token;
}

/** The command line {@link startFeatureDaemon} runs: this Node running bin/pbxctl daemon. */
export function featureDaemonCommand(o: FeatureDaemonOptions): string[] {
  return [
    process.execPath, PBXCTL_BIN, 'daemon',
    '--root', o.root,
    '--sip-address', o.sipAddress,
    '--sip-port', String(o.sipPort),
    '--kamailio', o.kamailio,
    '--ng', o.ng,
    '--api-port', String(o.apiPort),
    '--token-file', o.tokenFile,
    '--rtp-min', String(o.rtpMin),
    '--rtp-max', String(o.rtpMax),
    '--state-dir', o.stateDir,
    ...(o.evapi ? ['--evapi', o.evapi] : []),
    ...(o.keepaliveSeconds !== undefined ? ['--keepalive-interval', String(o.keepaliveSeconds)] : []),
  ];
}

/**
 * Starts the feature daemon and waits until its API answers GET /v1/health with the token.
 * @param token the token in `o.tokenFile`
 * @returns the running process (stop it with stopProcess(pid, {expectCommand: DAEMON_COMMAND_MARK, group: true}))
 * @throws PbxError LAB_START_FAILED (it exited, e.g. a port in use or dist/ not built; the error
 *   quotes its log), LAB_NOT_READY (no answer within timeoutMs; it was stopped)
 */
export async function startFeatureDaemon(o: FeatureDaemonOptions, token: string): Promise<LabProcess> {
  await mkdir(o.stateDir, { recursive: true });
  await mkdir(dirname(o.pidFile), { recursive: true });
  const { proc, exited } = spawnLogged(DAEMON_COMMAND_MARK, featureDaemonCommand(o), o.logFile);
  await writeFile(o.pidFile, `${proc.pid}\n`);
  const client = new DaemonClient({ host: '127.0.0.1', port: o.apiPort, token }, 1000);
  await waitReady(proc, exited, async () => (await client.health()).status !== undefined, `GET /v1/health on 127.0.0.1:${o.apiPort}`, o.timeoutMs ?? 20_000, 200);
  return proc;
}
