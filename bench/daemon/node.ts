/** The benchmark node: a port block, the fixture release and feature config, Kamailio, RTPengine and `pbxctl daemon` started on loopback and stopped by PID. */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { releasePrompts } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { kamailioRpc } from '../../src/kamailio/rpc-client.js';
import { findProgram } from '../../src/lab/binaries.js';
import { checkKamailioConfig, renderKamailioConfig, startKamailio } from '../../src/lab/kamailio.js';
import { findBusyPorts, type PortPlan } from '../../src/lab/ports.js';
import { logTail, spawnLogged, stopProcess, waitReady, type LabProcess } from '../../src/lab/process.js';
import { startRtpengine } from '../../src/lab/rtpengine.js';
import { renderPrompts } from '../../src/media/prompt-render.js';
import type { DaemonBenchDeps } from './types.js';
import { boundLocalPorts } from './stats.js';
import { api } from './api.js';

export const SPAN = 4000;
/** The daemon's in-dialog OPTIONS keepalive, seconds: its production default (`pbxctl daemon --keepalive-interval`). */
export const BENCH_KEEPALIVE_S = 30;
/** Kamailio's tm fr_timer (templates/kamailio/kamailio.cfg): its own 408 for an OPTIONS nobody answers, ms. */
export const KAMAILIO_FR_MS = 5000;
export const OFFSET = { sip: 0, rpc: 1, ng: 2, daemonSip: 3, daemonApi: 4, carrierA: 5, carrierB: 6, clientMin: 10, clientMax: 999, rtpMin: 1000, rtpMax: 2999, daemonRtpMin: 3000, daemonRtpMax: 3999 };
export const BASES = [40_000, 42_000, 44_000, 46_000];

export interface Ports {
  base: number;
  sip: number;
  rpc: number;
  ng: number;
  daemonSip: number;
  daemonApi: number;
  rtpMin: number;
  rtpMax: number;
  daemonRtpMin: number;
  daemonRtpMax: number;
  carriers: [number, number];
  /** Ports of the block someone else already holds (RTPengine and the daemon skip them). */
  busyInBlock: number;
}

export async function choosePorts(): Promise<Ports> {
  for (const base of BASES) {
    const bound = boundLocalPorts();
    const p = (k: keyof typeof OFFSET) => base + OFFSET[k];
    // Control ports must be free; a client, RTPengine or daemon port someone holds is skipped later.
    let clash = false;
    for (let port = base; port < p('clientMin'); port++) if (bound.has(port)) clash = true;
    if (clash) continue;
    const plan: PortPlan = {
      base, sip: p('sip'), rpc: p('rpc'), ng: p('ng'), daemonSip: p('daemonSip'), daemonApi: p('daemonApi'),
      rtpMin: p('rtpMin'), rtpMax: p('rtpMax'), clientMin: p('clientMin'), clientMax: p('clientMax'), daemonRtpMin: p('daemonRtpMin'), daemonRtpMax: p('daemonRtpMax'),
    };
    if ((await findBusyPorts(plan)).length > 0) continue;
    let busyInBlock = 0;
    for (let port = base; port < base + SPAN; port++) if (bound.has(port)) busyInBlock++;
    return { ...plan, carriers: [p('carrierA'), p('carrierB')], busyInBlock };
  }
  throw new Error(`no block of ${SPAN} ports at ${BASES.join(', ')} has its control ports (the first 10) free`);
}

// ---------------------------------------------------------------------------------------------
// The node

export const FIXTURE = join('test', 'e2e', 'fixtures', 'node-basic');
export const DOMAIN = 'pbx.lab.test';
export const TRUNK_IP = '127.0.0.1';
export const PHONE_IP = '127.0.0.2';
export const IVR_DID = '+15550199';
export const SOLO_NUMBER = '6010';
export const PIKE_LINE = /modparam\("pike", "reqs_density_per_unit", \d+\)/;
export const PIKE_DENSITY = 50_000;
/**
 * Kamailio's shared memory, MB. The lab's 64 MB runs out near 400 calls/s (transactions stay for
 * their wait timer, dialogs a while after the BYE) and Kamailio then answers 500: the direct path
 * would measure that instead of its CPU.
 */
export const KAMAILIO_SHM_MB = 512;

export const REPO: Record<string, string> = {
  'pbx.yaml': `name: bench\ndomain: ${DOMAIN}\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n`,
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'ring-groups/solo.yaml': `kind: RingGroup\nid: solo\nnumber: "${SOLO_NUMBER}"\nstrategy: simultaneous\nmembers: [{extension: "1002"}]\ntotalTimeout: 15\nfallback: hangup\n`,
  // Option 1 leads to a second menu: entering it (a `call.step` ivr:second) proves the digit acted.
  // Its long timeout keeps the caller there until sipp hangs up.
  'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome. For sales, press 1."}\noptions: {"1": "ivr:second"}\ntimeout: 5\nretries: 0\ntimeoutDestination: hangup\ninvalidDestination: hangup\n',
  'ivrs/second.yaml': 'kind: IVR\nid: second\ngreeting: {text: "Thank you."}\noptions: {"1": "hangup"}\ntimeout: 30\nretries: 0\ntimeoutDestination: hangup\ninvalidDestination: hangup\n',
  'inbound-routes/main.yaml': `kind: InboundRoute\nid: main\ndids: ["${IVR_DID}"]\ndestination: ivr:main\n`,
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};

export interface BenchNode {
  root: string;
  work: string;
  ports: Ports;
  token: string;
  daemon: LabProcess;
  greetingMs: number;
  daemonCommand: string[];
  allocPorts(count?: number): number;
  stop(): Promise<void>;
}

/** Processes started here, stopped in reverse order by stopAll(). */
export const started: LabProcess[] = [];
export const sippChildren = new Set<ChildProcess>();
/** sipp's -mp ports: sipp never reads what arrives there (no -rtp_echo), so their buffers overflow. */
export const sippMediaPorts = new Set<number>();

export async function stopAll(log: (l: string) => void): Promise<void> {
  for (const c of [...sippChildren]) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    sippChildren.delete(c);
  }
  for (const p of [...started].reverse()) {
    try {
      await stopProcess(p.pid, { expectCommand: p.name, group: true, timeoutMs: 10_000 });
    } catch (e) {
      log(`  could not stop ${p.name} (pid ${p.pid}): ${(e as Error).message}`);
    }
  }
  started.length = 0;
}

export async function writeRepo(dir: string): Promise<void> {
  for (const [path, text] of Object.entries(REPO)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

export async function startNode(deps: DaemonBenchDeps, log: (l: string) => void): Promise<BenchNode> {
  for (const p of ['kamailio', 'rtpengine', 'sipp'] as const) findProgram(p); // throws with the apt-get hint
  const ports = await choosePorts();
  const root = await mkdtemp(join(tmpdir(), 'pbxctl-bench-daemon-'));
  const work = join(root, 'clients');
  await mkdir(work, { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  let nextPort = ports.base + OFFSET.clientMin;
  const allocPorts = (count = 1) => {
    const bound = boundLocalPorts();
    for (;;) {
      const first = nextPort;
      nextPort += count;
      if (nextPort - 1 > ports.base + OFFSET.clientMax) throw new Error('bench node ran out of client ports');
      if (Array.from({ length: count }, (_, i) => first + i).every((p) => !bound.has(p))) return first;
    }
  };
  const stop = async () => {
    await stopAll(log);
    if (process.env.PBXCTL_BENCH_KEEP) log(`  bench node kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  };
  try {
    // Release r1: the fixture (carrier ports filled in) plus the ring group's dial row.
    const release = join(root, 'releases', 'r1');
    await cp(join(deps.root, FIXTURE), release, { recursive: true });
    const list = join(release, 'dispatcher.list');
    await writeFile(list, (await readFile(list, 'utf8')).replaceAll('{{CARRIER_A1_PORT}}', String(ports.carriers[0])).replaceAll('{{CARRIER_A2_PORT}}', String(ports.carriers[1])));
    const dial = join(release, 'db', 'pbx_dial');
    await writeFile(dial, `${await readFile(dial, 'utf8')}${SOLO_NUMBER}:0:0:t=feature;dest=ring-group\\:solo:0\n`);
    await symlink('releases/r1', join(root, 'current'));

    // The daemon's config and prompts, as apply deploys them.
    const repo = join(root, 'repo');
    await writeRepo(repo);
    const r = await validateRepoDir(repo, { strict: false, secretsFile: join(repo, '.secrets.yaml') });
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length || !r.state) throw new Error(`bench repo does not validate: ${errors.map((d) => d.message).join('; ')}`);
    const config = compileFeatureConfig(r.state, { fileHashes: {} });
    await mkdir(join(release, 'daemon'), { recursive: true });
    await writeFile(join(release, 'daemon', 'features.json'), `${JSON.stringify(config, null, 1)}\n`);
    const rendered = await renderPrompts(releasePrompts(r.state, config, {}), { repoDir: repo, cacheDir: join(root, 'prompt-cache') });
    await mkdir(join(release, 'prompts'), { recursive: true });
    for (const p of rendered) await copyFile(p.path, join(release, 'prompts', p.id));
    const greeting = rendered.find((p) => p.id === config.ivrs.main?.greeting);
    if (!greeting) throw new Error('the main IVR greeting was not rendered');

    // Kamailio's script as the lab renders it, pike's per-address threshold raised.
    const configFile = join(root, 'etc', 'kamailio.cfg');
    const cfg = renderKamailioConfig({ sipAddress: '127.0.0.1', sipPort: ports.sip, rpcPort: ports.rpc, ngSocket: `127.0.0.1:${ports.ng}`, root, domain: DOMAIN, daemonPort: ports.daemonSip });
    if (!PIKE_LINE.test(cfg)) throw new Error('templates/kamailio/kamailio.cfg has no pike reqs_density_per_unit line: update bench/daemon/node.ts');
    await writeFile(configFile, cfg.replace(PIKE_LINE, `modparam("pike", "reqs_density_per_unit", ${PIKE_DENSITY})`));
    await checkKamailioConfig(configFile);

    started.push(await startRtpengine({
      address: '127.0.0.1', ngPort: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax,
      pidFile: join(root, 'run', 'rtpengine.pid'), logFile: join(root, 'log', 'rtpengine.log'),
    }));
    started.push(await startKamailio({ configFile, runDir: join(root, 'run'), pidFile: join(root, 'run', 'kamailio.pid'), logFile: join(root, 'log', 'kamailio.log'), rpcPort: ports.rpc, shmMb: KAMAILIO_SHM_MB }));
    const rpc = kamailioRpc({ port: ports.rpc, timeoutMs: 5000 });
    try {
      const row = JSON.stringify(await rpc.call('htable.get', ['dial', SOLO_NUMBER]));
      if (!row.includes('ring-group')) throw new Error(`Kamailio's dial table has no ${SOLO_NUMBER} row: ${row}`);
    } finally {
      rpc.close();
    }

    const token = randomBytes(32).toString('hex');
    const tokenFile = join(root, 'etc', 'daemon.token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    await chmod(tokenFile, 0o600);
    const nodeFlags = deps.profileDir ? ['--cpu-prof', '--cpu-prof-dir', deps.profileDir] : [];
    const command = [
      process.execPath, ...nodeFlags, deps.bin, 'daemon',
      '--root', root, '--sip-address', '127.0.0.1', '--sip-port', String(ports.daemonSip),
      '--kamailio', `127.0.0.1:${ports.sip}`, '--ng', `127.0.0.1:${ports.ng}`, '--api-port', String(ports.daemonApi),
      '--token-file', tokenFile, '--rtp-min', String(ports.daemonRtpMin), '--rtp-max', String(ports.daemonRtpMax),
      '--state-dir', join(root, 'state', 'daemon'), '--keepalive-interval', String(BENCH_KEEPALIVE_S),
    ];
    const { proc, exited } = spawnLogged('pbxctl daemon', command, join(root, 'log', 'daemon.log'));
    started.push(proc);
    await waitReady(proc, exited, async () => (await api(ports.daemonApi, token, '/v1/health')).status === 200, `GET /v1/health on 127.0.0.1:${ports.daemonApi}`, 30_000);
    return { root, work, ports, token, daemon: proc, greetingMs: greeting.durationMs, daemonCommand: command, allocPorts, stop };
  } catch (e) {
    const logs = ['kamailio', 'rtpengine', 'daemon'].map((n) => `--- ${n}\n${logTail(join(root, 'log', `${n}.log`), 15)}`).join('\n');
    await stop();
    throw new Error(`bench node did not start: ${(e as Error).message}\n${logs}`, { cause: e });
  }
}
