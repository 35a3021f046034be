/**
 * A throw-away lab node for one test file: a temporary ROOT laid out as in docs/node-data.md with
 * the hand-written fixture as release r1, the static Kamailio script rendered for a port block
 * derived from the vitest worker, RTPengine and Kamailio (and with `daemon: true` the feature
 * daemon, as `pbxctl lab up` runs it) started on loopback, and `stop()` that stops exactly those PIDs.
 */
import { renderReleaseFiles } from '../../../src/compile/release-files.js';
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PORT_BLOCK_SIZE,
  aptInstallCommand,
  startFeatureDaemon,
  writeDaemonToken,
  checkKamailioConfig,
  findBusyPorts,
  findProgram,
  logTail,
  portPlan,
  renderKamailioConfig,
  startKamailio,
  startRtpengine,
  stopProcess,
  type LabProcess,
  type LabProgram,
  type LabPortPlan,
} from '../../../src/lab/index.js';
import { DaemonClient } from '../../../src/daemon/daemon-client.js';
import { kamailioRpc, type KamailioRpc } from '../../../src/kamailio/rpc-client.js';
import type { LabInfo } from '../../../src/targets/lab-registry.js';
import { NgClient } from '../../../src/rtpengine/ng-client.js';

/** The hand-written node data of these tests (docs/node-data.md format). */
export const FIXTURE_NODE = fileURLToPath(new URL('../fixtures/node-basic/', import.meta.url));

/** The fixture's SIP domain (digest realm of its HA1s) and passwords. */
export const LAB_DOMAIN = 'pbx.lab.test';
export const PASSWORDS: Readonly<Record<string, string>> = { '1001': 'secret-1001', '1002': 'secret-1002' };

/** Kamailio and the trunk (permissions group 1 in the fixture) live on 127.0.0.1; phones elsewhere. */
export const NODE_IP = '127.0.0.1';
export const TRUNK_IP = '127.0.0.1';
export const PHONE_IP = '127.0.0.2';

/** A running lab node. */
export interface LabNode {
  root: string;
  ports: LabPortPlan;
  /** `127.0.0.1:SIP` for sipp. */
  sipTarget: string;
  /** The two carrier hosts of the fixture's dispatcher set 1, in failover order (127.0.0.1). */
  carrierPorts: [number, number];
  kamailio: LabProcess;
  rtpengine: LabProcess;
  /** The feature daemon (`pbxctl daemon`), with `daemon: true`; its API client and token file. */
  daemon?: { process: LabProcess; client: DaemonClient; tokenFile: string };
  rpc: KamailioRpc;
  ng: NgClient;
  /** Directory for client logs (sipp). */
  workDir: string;
  /** Reserves `count` consecutive ports from the client range (never reused within the node). */
  allocPorts(count?: number): number;
  /**
   * Replaces a file of the current release the way apply does: temp file, mtime past the old one
   * (db_text compares whole seconds), rename over it.
   */
  writeReleaseFile(relPath: string, content: string): Promise<void>;
  readReleaseFile(relPath: string): Promise<string>;
  /** Last lines of Kamailio's, RTPengine's (and the daemon's) logs. */
  logs(lines?: number): string;
  /** What `pbxctl lab up` would record in lab.json for this node (with the daemon's fields when it runs one). */
  labInfo(domain: string): LabInfo;
  stop(): Promise<void>;
}

/**
 * Throws (no silent skip) when a program the suite needs is missing, with the apt-get command.
 * @throws Error listing the missing programs and `sudo apt-get install -y ...`
 */
export function requireTools(programs: readonly LabProgram[] = ['kamailio', 'rtpengine', 'sipp']): void {
  const missing = programs.filter((p) => {
    try {
      findProgram(p);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(`end-to-end tests need ${missing.join(', ')}; install with: ${aptInstallCommand(missing)}`);
  }
}

/** Candidate port bases for this worker: spread by VITEST_POOL_ID and pid over 20000-31999. */
function candidateBases(): number[] {
  const blocks = Math.floor(12_000 / PORT_BLOCK_SIZE);
  const pool = Number(process.env.VITEST_POOL_ID ?? 0) || 0;
  const start = (pool * 7 + process.pid) % blocks;
  return Array.from({ length: blocks }, (_, i) => 20_000 + ((start + i) % blocks) * PORT_BLOCK_SIZE);
}

/** A port block no process on 127.0.0.1 uses right now (for tests that start a lab node themselves, e.g. with `pbxctl lab up`). */
export async function choosePorts(): Promise<LabPortPlan> {
  for (const base of candidateBases()) {
    const plan = portPlan(base);
    if ((await findBusyPorts(plan, NODE_IP)).length === 0) return plan;
  }
  throw new Error('no free port block between 20000 and 31999 on 127.0.0.1');
}

/** Copies the fixture into ROOT/releases/r1 (carrier ports filled in) and points `current` at it. */
async function installFixture(root: string, carriers: [number, number]): Promise<void> {
  const release = join(root, 'releases', 'r1');
  await mkdir(join(root, 'releases'), { recursive: true });
  await cp(FIXTURE_NODE, release, { recursive: true });
  const list = join(release, 'dispatcher.list');
  const text = await readFile(list, 'utf8');
  await writeFile(list, text.replaceAll('{{CARRIER_A1_PORT}}', String(carriers[0])).replaceAll('{{CARRIER_A2_PORT}}', String(carriers[1])));
  await symlink('releases/r1', join(root, 'current'));
}

/**
 * Starts a lab node for one test file. On any failure, whatever it started is stopped again.
 * @param testName used in the temporary directory name
 * @param opts.domain SIP domain (default the fixture's); opts.empty start from an empty release
 *   (for tests that deploy with pbxctl apply) instead of the fixture; opts.daemon also run the
 *   feature daemon (bin/pbxctl daemon: needs dist/ built), as `pbxctl lab up` does
 * @throws Error when programs are missing (with the apt-get command) or a daemon does not start
 */
export async function startLabNode(testName: string, opts: { domain?: string; empty?: boolean; daemon?: boolean } = {}): Promise<LabNode> {
  requireTools();
  const root = await mkdtemp(join(tmpdir(), `pbxctl-e2e-${testName.replace(/[^A-Za-z0-9-]/g, '-')}-`));
  const ports = await choosePorts();
  const carrierPorts: [number, number] = [ports.clientMin, ports.clientMin + 1];
  let nextPort = ports.clientMin + 2;
  const workDir = join(root, 'clients');
  await mkdir(workDir, { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  if (opts.empty) {
    // What `pbxctl lab up` leaves: an empty first release, for tests that deploy with pbxctl apply.
    for (const f of renderReleaseFiles([])) {
      await mkdir(dirname(join(root, 'releases', 'empty', f.path)), { recursive: true });
      await writeFile(join(root, 'releases', 'empty', f.path), f.content);
    }
    await symlink('releases/empty', join(root, 'current'));
  } else {
    await installFixture(root, carrierPorts);
  }
  const configFile = join(root, 'etc', 'kamailio.cfg');
  await writeFile(configFile, renderKamailioConfig({
    sipAddress: NODE_IP, sipPort: ports.sip, rpcPort: ports.rpc, ngSocket: `127.0.0.1:${ports.ng}`, root, domain: opts.domain ?? LAB_DOMAIN, daemonPort: ports.daemonSip,
  }));
  await checkKamailioConfig(configFile);

  const started: LabProcess[] = [];
  const exitGuard = () => {
    // The worker is exiting without afterAll (crash): signal exactly our daemons.
    for (const p of started) {
      try {
        process.kill(p.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', exitGuard);
  const stopAll = async () => {
    for (const p of [...started].reverse()) await stopProcess(p.pid, { expectCommand: p.name, group: true });
    process.removeListener('exit', exitGuard);
  };
  try {
    const rtpengine = await startRtpengine({
      address: NODE_IP, ngPort: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax,
      pidFile: join(root, 'run', 'rtpengine.pid'), logFile: join(root, 'log', 'rtpengine.log'),
    });
    started.push(rtpengine);
    const kamailio = await startKamailio({
      configFile, runDir: join(root, 'run'), pidFile: join(root, 'run', 'kamailio.pid'), logFile: join(root, 'log', 'kamailio.log'), rpcPort: ports.rpc,
    });
    started.push(kamailio);
    let daemon: LabNode['daemon'];
    if (opts.daemon) {
      const tokenFile = join(root, 'etc', 'daemon.token');
      const token = await writeDaemonToken(tokenFile);
      const proc = await startFeatureDaemon({
        root, sipAddress: NODE_IP, sipPort: ports.daemonSip, kamailio: `${NODE_IP}:${ports.sip}`, ng: `127.0.0.1:${ports.ng}`,
        apiPort: ports.daemonApi, tokenFile, rtpMin: ports.daemonRtpMin, rtpMax: ports.daemonRtpMax,
        stateDir: join(root, 'state', 'daemon'), pidFile: join(root, 'run', 'daemon.pid'), logFile: join(root, 'log', 'daemon.log'),
      }, token);
      started.push(proc);
      daemon = { process: proc, tokenFile, client: new DaemonClient({ host: '127.0.0.1', port: ports.daemonApi, token }) };
    }
    const rpc = kamailioRpc({ port: ports.rpc, timeoutMs: 5000 });
    const ng = new NgClient({ host: NODE_IP, port: ports.ng });
    const current = (rel: string) => join(root, 'current', rel);
    return {
      root, ports, carrierPorts, kamailio, rtpengine, rpc, ng, workDir,
      ...(daemon ? { daemon } : {}),
      sipTarget: `${NODE_IP}:${ports.sip}`,
      allocPorts(count = 1) {
        const first = nextPort;
        nextPort += count;
        if (nextPort - 1 > ports.clientMax) throw new Error(`lab node ran out of client ports (${ports.clientMin}-${ports.clientMax})`);
        return first;
      },
      async writeReleaseFile(relPath, content) {
        const file = current(relPath);
        const old = await stat(file).catch(() => undefined);
        const seconds = Math.max(Math.floor(Date.now() / 1000), old ? Math.floor(old.mtimeMs / 1000) + 1 : 0);
        const tmp = join(dirname(file), `.${relPath.replace(/\//g, '_')}.tmp-${process.pid}`);
        await writeFile(tmp, content);
        await utimes(tmp, seconds, seconds);
        await rename(tmp, file);
      },
      readReleaseFile: (relPath) => readFile(current(relPath), 'utf8'),
      logs(lines = 40) {
        const d = daemon ? `\n--- daemon (${daemon.process.logFile})\n${logTail(daemon.process.logFile, lines)}` : '';
        return `--- kamailio (${kamailio.logFile})\n${logTail(kamailio.logFile, lines)}\n--- rtpengine (${rtpengine.logFile})\n${logTail(rtpengine.logFile, lines)}${d}`;
      },
      labInfo(domain) {
        return {
          root, sipAddress: NODE_IP, domain, startedAt: new Date().toISOString(),
          ports: { sip: ports.sip, rpc: ports.rpc, ng: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax, ...(daemon ? { daemonSip: ports.daemonSip, daemonApi: ports.daemonApi } : {}) },
          pids: { kamailio: kamailio.pid, rtpengine: rtpengine.pid, ...(daemon ? { daemon: daemon.process.pid } : {}) },
          ...(daemon ? { daemonTokenFile: daemon.tokenFile } : {}),
        };
      },
      async stop() {
        rpc.close();
        await ng.close();
        await stopAll();
        if (process.env.PBXCTL_E2E_KEEP) console.error(`lab node kept in ${root}`);
        else await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    if (!process.env.PBXCTL_E2E_KEEP) await rm(root, { recursive: true, force: true });
    throw new Error(`lab node did not start (PBXCTL_E2E_KEEP=1 keeps ${root}): ${(err as Error).message}`, { cause: err });
  }
}
