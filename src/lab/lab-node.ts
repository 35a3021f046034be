/**
 * The lab node behind `pbxctl lab up|down|status|logs`: a Kamailio + RTPengine pair on loopback,
 * rendered into a lab directory, with an empty first release so Kamailio always has data to load.
 * Processes are started detached and recorded (lab.json) so later commands stop exactly them.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderReleaseFiles } from '../compile/release-files.js';
import { kamailioRpc } from '../kamailio/rpc-client.js';
import { PbxError } from '../lib/errors.js';
import { localTarget } from '../targets/local.js';
import { readLabInfo, writeLabInfo, type LabInfo } from '../targets/lab-registry.js';
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
  };
}

/** Health of a lab node as `lab status` reports it. */
export interface LabStatus {
  dir: string;
  running: boolean;
  info?: LabInfo;
  kamailio: { pid?: number; alive: boolean; version?: string; uptimeSec?: number };
  rtpengine: { pid?: number; alive: boolean; pong: boolean };
  release?: string;
}

/**
 * Starts a lab node in `dir` (idempotent: a running lab is left as it is and returned).
 * A restarted lab keeps its deployed release (`current`).
 * @param opts.base first port of the block; opts.domain the SIP domain (digest realm)
 * @throws PbxError LAB_PORTS_BUSY, LAB_BINARY_MISSING, LAB_START_FAILED, LAB_NOT_READY, LAB_CONFIG_INVALID
 */
export async function labUp(dir: string, opts: { base?: number; domain: string }): Promise<{ info: LabInfo; started: boolean }> {
  const existing = await readLabInfo(dir);
  if (existing && existing.pids.kamailio && isProcessAlive(existing.pids.kamailio) && existing.pids.rtpengine && isProcessAlive(existing.pids.rtpengine)) {
    return { info: existing, started: false };
  }
  if (existing) await labDown(dir); // half-dead: stop what is left, then start clean
  const ports = portPlan(opts.base ?? existing?.ports.sip ?? DEFAULT_LAB_PORT_BASE);
  const busy = await findBusyPorts(ports);
  if (busy.length) {
    throw new PbxError('LAB_PORTS_BUSY', `ports in use: ${busy.join(', ')}`, { hint: `Choose another block with --ports BASE (e.g. --ports ${ports.base + 300}).` });
  }
  const p = labPaths(dir);
  await mkdir(join(p.root, 'etc'), { recursive: true });
  await mkdir(join(p.root, 'state'), { recursive: true });
  await writeFile(p.config, renderKamailioConfig({ sipAddress: '127.0.0.1', sipPort: ports.sip, rpcPort: ports.rpc, ngSocket: `127.0.0.1:${ports.ng}`, root: p.root, domain: opts.domain, daemonPort: ports.daemonSip }));
  const target = localTarget('lab', p.root, ports.rpc);
  if (!(await target.readLink('current'))) {
    for (const f of renderReleaseFiles([])) await target.writeText(`releases/empty/${f.path}`, f.content);
    await target.switchLink('current', 'releases/empty');
  }
  await target.close();
  const rtp = await startRtpengine({ address: '127.0.0.1', ngPort: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax, pidFile: p.rtpenginePid, logFile: p.rtpengineLog });
  let kam;
  try {
    kam = await startKamailio({ configFile: p.config, runDir: p.runDir, pidFile: p.kamailioPid, logFile: p.kamailioLog, rpcPort: ports.rpc });
  } catch (e) {
    await stopProcess(rtp.pid);
    throw e;
  }
  const info: LabInfo = {
    root: p.root, sipAddress: '127.0.0.1', domain: opts.domain, startedAt: new Date().toISOString(),
    ports: { sip: ports.sip, rpc: ports.rpc, ng: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax },
    pids: { kamailio: kam.pid, rtpengine: rtp.pid },
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
  if (info?.pids.kamailio) stopped.push(`kamailio ${info.pids.kamailio}: ${await stopProcess(info.pids.kamailio, { expectCommand: 'kamailio', group: true })}`);
  if (info?.pids.rtpengine) stopped.push(`rtpengine ${info.pids.rtpengine}: ${await stopProcess(info.pids.rtpengine, { expectCommand: 'rtpengine', group: true })}`);
  if (opts.purge) await rm(dir, { recursive: true, force: true });
  else await rm(join(dir, 'lab.json'), { force: true });
  return { stopped };
}

/** Reports whether the lab's processes run and answer (Kamailio JSON-RPC, RTPengine NG ping). */
export async function labStatus(dir: string): Promise<LabStatus> {
  const info = await readLabInfo(dir);
  const status: LabStatus = { dir, running: false, kamailio: { alive: false }, rtpengine: { alive: false, pong: false } };
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
  const target = localTarget('lab', info.root, info.ports.rpc);
  status.release = (await target.readLink('current'))?.replace(/^releases\//, '');
  await target.close();
  status.running = status.kamailio.alive && !!status.kamailio.version && status.rtpengine.pong;
  return status;
}

/** The last `lines` lines of each lab log. */
export function labLogs(dir: string, lines: number): { kamailio: string; rtpengine: string } {
  const p = labPaths(dir);
  return { kamailio: logTail(p.kamailioLog, lines), rtpengine: logTail(p.rtpengineLog, lines) };
}
