/**
 * pbxctl's own service supervisor, for nodes without systemd as PID 1 (containers, CI, the e2e
 * test): runs ON the node (`pbxctl node services start|stop|status --dir DIR`, invoked over SSH by
 * bootstrap) and starts RTPengine, Kamailio and the feature daemon as detached processes with
 * pidfiles under DIR/run and logs under DIR/log, dropping to the service user with setpriv(1)
 * when it runs as root. Readiness is the same as the lab node's (src/lab/): an NG ping, JSON-RPC
 * `core.version`, GET /v1/health. Stopping signals exactly the recorded PIDs, after checking their
 * command lines (a stale pidfile never kills a stranger).
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonClient } from '../daemon/daemon-client.js';
import { findProgram } from '../lab/binaries.js';
import { DAEMON_COMMAND_MARK, featureDaemonCommand } from '../lab/daemon.js';
import { kamailioRpcCall } from '../lab/kamailio.js';
import { isProcessAlive, spawnLogged, stopProcess, waitReady } from '../lab/process.js';
import { ngPing } from '../lab/rtpengine.js';
import { PbxError } from '../lib/errors.js';
import { evapiPort, NODE_DESCRIPTOR, type NodeDescriptor } from '../targets/ssh-node.js';

/** The node's services, in start order (Kamailio pings RTPengine at startup; the daemon needs both). */
export const SERVICES = ['rtpengine', 'kamailio', 'daemon'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Paths of a node dir that the services use. */
export function nodePaths(dir: string) {
  return {
    kamailioCfg: join(dir, 'etc', 'kamailio.cfg'),
    rtpengineConf: join(dir, 'etc', 'rtpengine.conf'),
    descriptor: join(dir, NODE_DESCRIPTOR),
    runDir: join(dir, 'run'),
    logDir: join(dir, 'log'),
    stateDir: join(dir, 'spool', 'daemon'),
    pid: (s: ServiceName) => join(dir, 'run', `${s}.pid`),
    log: (s: ServiceName) => join(dir, 'log', `${s}.log`),
  };
}

/** What each service's command line contains (checked before signalling a recorded PID). */
const MARK: Record<ServiceName, string> = { rtpengine: 'rtpengine', kamailio: 'kamailio', daemon: DAEMON_COMMAND_MARK };

/** One service's state. */
export interface ServiceState {
  name: ServiceName;
  pid?: number;
  running: boolean;
  /** Whether it answered its health probe (only probed when running). */
  healthy: boolean;
  detail?: string;
}

/** Reads DIR/etc/node.json. @throws PbxError NODE_NOT_BOOTSTRAPPED */
export async function readDescriptor(dir: string): Promise<NodeDescriptor> {
  const text = await readFile(nodePaths(dir).descriptor, 'utf8').catch(() => undefined);
  if (!text) throw new PbxError('NODE_NOT_BOOTSTRAPPED', `${nodePaths(dir).descriptor} does not exist`, { hint: 'Run pbxctl node bootstrap TARGET from your workstation first.' });
  return JSON.parse(text) as NodeDescriptor;
}

async function recordedPid(dir: string, s: ServiceName): Promise<number | undefined> {
  const n = Number((await readFile(nodePaths(dir).pid(s), 'utf8').catch(() => '')).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Whether `pid` is alive and its command line contains `mark`. */
function isOurs(pid: number, mark: string): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(mark);
  } catch {
    return false;
  }
}

/**
 * The prefix that runs a program as the service user: setpriv(1) changes uid, gid and groups and
 * then execs (no extra process, so the recorded PID is the service's). Empty when not root or
 * when the user is root. Kamailio on a port below 1024 keeps CAP_NET_BIND_SERVICE (ambient).
 */
export function dropPrivileges(user: string, opts: { bindLowPorts?: boolean } = {}): string[] {
  if (process.getuid?.() !== 0 || user === 'root') return [];
  const caps = opts.bindLowPorts ? ['--inh-caps=+net_bind_service', '--ambient-caps=+net_bind_service'] : [];
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', ...caps, '--'];
}

/** The command line of one service, from the descriptor (program first). */
export function serviceCommand(dir: string, d: NodeDescriptor, s: ServiceName): string[] {
  const p = nodePaths(dir);
  const user = dropPrivileges(d.serviceUser, { bindLowPorts: s === 'kamailio' && d.ports.sip < 1024 });
  if (s === 'rtpengine') {
    // No --pidfile/-P: both stay in the foreground, so the supervisor records the PID it spawned.
    return [...user, findProgram('rtpengine'), `--config-file=${p.rtpengineConf}`, '--config-section=rtpengine', '--foreground', '--log-stderr'];
  }
  if (s === 'kamailio') {
    return [...user, findProgram('kamailio'), '-f', p.kamailioCfg, '-DD', '-E', '-Y', p.runDir, '-m', '64', '-M', '8'];
  }
  return [...user, ...featureDaemonCommand({
    root: dir, sipAddress: d.sipAddress, sipPort: d.ports.daemonSip, kamailio: `${d.sipAddress}:${d.ports.sip}`, ng: `127.0.0.1:${d.ports.ng}`,
    apiPort: d.ports.daemonApi, tokenFile: d.daemonTokenFile, rtpMin: d.ports.daemonRtpMin, rtpMax: d.ports.daemonRtpMax,
    stateDir: p.stateDir, pidFile: p.pid('daemon'), logFile: p.log('daemon'),
    // Kamailio's call and registration events for CDRs and webhooks (render.ts gives Kamailio the same port).
    evapi: `127.0.0.1:${evapiPort(d.ports)}`,
  })];
}

async function probe(d: NodeDescriptor, s: ServiceName): Promise<boolean> {
  if (s === 'rtpengine') return ngPing('127.0.0.1', d.ports.ng, 1000);
  if (s === 'kamailio') return (await kamailioRpcCall(d.ports.rpc, 'core.version', [], 2000)) !== undefined;
  const token = (await readFile(d.daemonTokenFile, 'utf8')).trim();
  return (await new DaemonClient({ host: '127.0.0.1', port: d.ports.daemonApi, token }, 2000).health()).status === 'ok';
}

/** Each service's pid, liveness and health. */
export async function servicesStatus(dir: string): Promise<ServiceState[]> {
  const d = await readDescriptor(dir);
  const out: ServiceState[] = [];
  for (const s of SERVICES) {
    const pid = await recordedPid(dir, s);
    const running = pid !== undefined && isOurs(pid, MARK[s]);
    const healthy = running ? await probe(d, s).catch(() => false) : false;
    out.push({ name: s, ...(pid !== undefined ? { pid } : {}), running, healthy });
  }
  return out;
}

/**
 * Starts the services that do not run (all, or `only`), in order, each waited for until healthy.
 * @param restart services to restart even if running (their configuration changed)
 * @returns what was done per service: `started`, `restarted` or `running`
 * @throws PbxError LAB_START_FAILED / LAB_NOT_READY (with the log's tail), NODE_NOT_BOOTSTRAPPED
 */
export async function startServices(dir: string, restart: readonly ServiceName[] = []): Promise<Record<ServiceName, 'started' | 'restarted' | 'running'>> {
  const d = await readDescriptor(dir);
  const done = {} as Record<ServiceName, 'started' | 'restarted' | 'running'>;
  for (const s of SERVICES) {
    const pid = await recordedPid(dir, s);
    const running = pid !== undefined && isOurs(pid, MARK[s]);
    if (running && !restart.includes(s)) {
      done[s] = 'running';
      continue;
    }
    if (running) await stopProcess(pid, { expectCommand: MARK[s], group: true });
    const { proc, exited } = spawnLogged(MARK[s], serviceCommand(dir, d, s), nodePaths(dir).log(s));
    await writeFile(nodePaths(dir).pid(s), `${proc.pid}\n`);
    await waitReady(proc, exited, () => probe(d, s), `the ${s} health probe`, s === 'daemon' ? 30_000 : 15_000, 200);
    done[s] = running ? 'restarted' : 'started';
  }
  return done;
}

/** Stops the services (reverse order), exactly the recorded PIDs. */
export async function stopServices(dir: string): Promise<Record<ServiceName, string>> {
  const done = {} as Record<ServiceName, string>;
  for (const s of [...SERVICES].reverse()) {
    const pid = await recordedPid(dir, s);
    done[s] = pid === undefined ? 'not-running' : await stopProcess(pid, { expectCommand: MARK[s], group: true });
  }
  return done;
}
