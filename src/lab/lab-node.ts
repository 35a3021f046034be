/**
 * The lab node behind `pbxctl lab up|down|status|logs`: Kamailio, RTPengine and the feature daemon
 * (`pbxctl daemon`) on loopback, rendered into a lab directory, with an empty first release so
 * Kamailio always has data to load. Processes are started detached and recorded (lab.json) so later
 * commands stop exactly them.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderReleaseFiles } from '../compile/release-files.js';
import { kamailioRpc } from '../kamailio/rpc-client.js';
import { PbxError } from '../lib/errors.js';
import { localTarget } from '../targets/local.js';
import { readLabInfo, writeLabInfo, type LabInfo } from '../targets/lab-registry.js';
import { labDaemonClient } from '../targets/resolve.js';
import { DAEMON_COMMAND_MARK, startFeatureDaemon, writeDaemonToken } from './daemon.js';
import { renderKamailioConfig, startKamailio } from './kamailio.js';
import { findBusyPorts, portPlan } from './ports.js';
import { isProcessAlive, logTail, stopProcess } from './process.js';
import { ngPing, startRtpengine } from './rtpengine.js';

/** Default first port of a lab node's block (see ports.ts). */
export const DEFAULT_LAB_PORT_BASE = 25060;

/** Paths inside a lab directory. */
export function labPaths(dir: string) {
  const root = join(dir, 'node');
  return {
    root,
    config: join(root, 'etc', 'kamailio.cfg'),
    runDir: join(root, 'run'),
    kamailioPid: join(root, 'run', 'kamailio.pid'),
    rtpenginePid: join(root, 'run', 'rtpengine.pid'),
    kamailioLog: join(root, 'log', 'kamailio.log'),
    rtpengineLog: join(root, 'log', 'rtpengine.log'),
    daemonPid: join(root, 'run', 'daemon.pid'),
    daemonLog: join(root, 'log', 'daemon.log'),
    daemonToken: join(root, 'etc', 'daemon.token'),
    daemonState: join(root, 'state', 'daemon'),
  };
}

/** Health of a lab node as `lab status` reports it. */
export interface LabStatus {
  dir: string;
  running: boolean;
  info?: LabInfo;
  kamailio: { pid?: number; alive: boolean; version?: string; uptimeSec?: number };
  rtpengine: { pid?: number; alive: boolean; pong: boolean };
  /**
   * The feature daemon: `healthy` when GET /v1/health answered; `configVersion` the feature config
   * it runs (null before the first apply that ships one); `error` why it did not answer.
   */
  daemon: { pid?: number; alive: boolean; healthy: boolean; configVersion?: string | null; calls?: number; error?: string };
  release?: string;
}

/** Whether every process lab.json records is alive (a lab without a daemon pid predates it: not complete). */
function allAlive(info: LabInfo): boolean {
  return [info.pids.kamailio, info.pids.rtpengine, info.pids.daemon].every((pid) => pid !== undefined && isProcessAlive(pid));
}

/**
 * Starts a lab node in `dir` (idempotent: a running lab is left as it is and returned): RTPengine,
 * then Kamailio, then the feature daemon with a new API token (ROOT/etc/daemon.token, 0600).
 * A restarted lab keeps its deployed release (`current`), which the daemon loads at start.
 * @param opts.base first port of the block; opts.domain the SIP domain (digest realm)
 * @throws PbxError LAB_PORTS_BUSY, LAB_BINARY_MISSING, LAB_START_FAILED, LAB_NOT_READY, LAB_CONFIG_INVALID
 */
export async function labUp(dir: string, opts: { base?: number; domain: string }): Promise<{ info: LabInfo; started: boolean }> {
  const existing = await readLabInfo(dir);
  if (existing && allAlive(existing)) return { info: existing, started: false };
  if (existing) await labDown(dir); // half-dead: stop what is left, then start clean
  const ports = portPlan(opts.base ?? existing?.ports.sip ?? DEFAULT_LAB_PORT_BASE);
  const busy = await findBusyPorts(ports);
  if (busy.length) {
    throw new PbxError('LAB_PORTS_BUSY', `ports in use: ${busy.join(', ')}`, { hint: `Choose another block with --ports BASE (e.g. --ports ${ports.base + 300}).` });
  }
  const p = labPaths(dir);
  await mkdir(join(p.root, 'etc'), { recursive: true });
  await mkdir(join(p.root, 'state'), { recursive: true });
  await writeFile(p.config, renderKamailioConfig({ sipAddress: '127.0.0.1', sipPort: ports.sip, rpcPort: ports.rpc, ngSocket: `127.0.0.1:${ports.ng}`, root: p.root, domain: opts.domain, daemonPort: ports.daemonSip, evapiPort: ports.evapi }));
  const target = localTarget('lab', p.root, ports.rpc);
  if (!(await target.readLink('current'))) {
    for (const f of renderReleaseFiles([])) await target.writeText(`releases/empty/${f.path}`, f.content);
    await target.switchLink('current', 'releases/empty');
  }
  await target.close();
  const token = await writeDaemonToken(p.daemonToken);
  const rtp = await startRtpengine({ address: '127.0.0.1', ngPort: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax, pidFile: p.rtpenginePid, logFile: p.rtpengineLog });
  let kam;
  let daemon;
  try {
    kam = await startKamailio({ configFile: p.config, runDir: p.runDir, pidFile: p.kamailioPid, logFile: p.kamailioLog, rpcPort: ports.rpc });
    try {
      daemon = await startFeatureDaemon({
        root: p.root, sipAddress: '127.0.0.1', sipPort: ports.daemonSip, kamailio: `127.0.0.1:${ports.sip}`, ng: `127.0.0.1:${ports.ng}`,
        apiPort: ports.daemonApi, tokenFile: p.daemonToken, rtpMin: ports.daemonRtpMin, rtpMax: ports.daemonRtpMax,
        stateDir: p.daemonState, pidFile: p.daemonPid, logFile: p.daemonLog, evapi: `127.0.0.1:${ports.evapi ?? ports.daemonSip + 2}`,
      }, token);
    } catch (e) {
      await stopProcess(kam.pid, { expectCommand: 'kamailio', group: true });
      throw e;
    }
  } catch (e) {
    await stopProcess(rtp.pid, { expectCommand: 'rtpengine', group: true });
    throw e;
  }
  const info: LabInfo = {
    root: p.root, sipAddress: '127.0.0.1', domain: opts.domain, startedAt: new Date().toISOString(),
    ports: { sip: ports.sip, rpc: ports.rpc, ng: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax, daemonSip: ports.daemonSip, daemonApi: ports.daemonApi },
    pids: { kamailio: kam.pid, rtpengine: rtp.pid, daemon: daemon.pid },
    daemonTokenFile: p.daemonToken,
  };
  await writeLabInfo(dir, info);
  return { info, started: true };
}

/**
 * Stops exactly the processes the lab started (by recorded PID, checking their command line).
 * @param opts.purge also delete the lab directory (releases, logs)
 */
export async function labDown(dir: string, opts: { purge?: boolean } = {}): Promise<{ stopped: string[] }> {
  const info = await readLabInfo(dir);
  const stopped: string[] = [];
  // The daemon first: its calls end with BYEs through Kamailio and deletes to RTPengine.
  if (info?.pids.daemon) stopped.push(`daemon ${info.pids.daemon}: ${await stopProcess(info.pids.daemon, { expectCommand: DAEMON_COMMAND_MARK, group: true })}`);
  if (info?.pids.kamailio) stopped.push(`kamailio ${info.pids.kamailio}: ${await stopProcess(info.pids.kamailio, { expectCommand: 'kamailio', group: true })}`);
  if (info?.pids.rtpengine) stopped.push(`rtpengine ${info.pids.rtpengine}: ${await stopProcess(info.pids.rtpengine, { expectCommand: 'rtpengine', group: true })}`);
  if (opts.purge) await rm(dir, { recursive: true, force: true });
  else await rm(join(dir, 'lab.json'), { force: true });
  return { stopped };
}

/** Reports whether the lab's processes run and answer (Kamailio JSON-RPC, RTPengine NG ping, daemon /v1/health). */
export async function labStatus(dir: string): Promise<LabStatus> {
  const info = await readLabInfo(dir);
  const status: LabStatus = { dir, running: false, kamailio: { alive: false }, rtpengine: { alive: false, pong: false }, daemon: { alive: false, healthy: false } };
  if (!info) return status;
  status.info = info;
  status.kamailio.pid = info.pids.kamailio;
  status.rtpengine.pid = info.pids.rtpengine;
  status.kamailio.alive = !!info.pids.kamailio && isProcessAlive(info.pids.kamailio);
  status.rtpengine.alive = !!info.pids.rtpengine && isProcessAlive(info.pids.rtpengine);
  if (status.kamailio.alive) {
    const rpc = kamailioRpc({ port: info.ports.rpc, timeoutMs: 2000 });
    try {
      status.kamailio.version = String(await rpc.call('core.version')).trim();
      const up = await rpc.call<{ uptime?: number }>('core.uptime');
      if (typeof up?.uptime === 'number') status.kamailio.uptimeSec = up.uptime;
    } catch {
      // alive but not answering: reported as no version
    } finally {
      rpc.close();
    }
  }
  if (status.rtpengine.alive) status.rtpengine.pong = await ngPing('127.0.0.1', info.ports.ng);
  const hasDaemon = info.pids.daemon !== undefined;
  if (hasDaemon) await probeDaemon(info, status.daemon);
  const target = localTarget('lab', info.root, info.ports.rpc);
  status.release = (await target.readLink('current'))?.replace(/^releases\//, '');
  await target.close();
  // A lab.json without a daemon (started by an older pbxctl) is judged on Kamailio and RTPengine.
  status.running = status.kamailio.alive && !!status.kamailio.version && status.rtpengine.pong && (!hasDaemon || status.daemon.healthy);
  return status;
}

/** Fills `out` with the recorded daemon's liveness and GET /v1/health answer. */
async function probeDaemon(info: LabInfo, out: LabStatus['daemon']): Promise<void> {
  out.pid = info.pids.daemon;
  out.alive = isProcessAlive(info.pids.daemon!);
  if (!out.alive) return;
  try {
    const client = await labDaemonClient(info);
    if (!client) return;
    const h = await client.health();
    out.healthy = h.status === 'ok';
    out.configVersion = h.configVersion;
    out.calls = h.calls;
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
  }
}

/** The last `lines` lines of each lab log. */
export function labLogs(dir: string, lines: number): { kamailio: string; rtpengine: string; daemon: string } {
  const p = labPaths(dir);
  return { kamailio: logTail(p.kamailioLog, lines), rtpengine: logTail(p.rtpengineLog, lines), daemon: logTail(p.daemonLog, lines) };
}
