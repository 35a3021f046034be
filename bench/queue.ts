/**
 * Queue benchmark (issue 5): 50 simultaneous callers waiting in one queue with music on hold and
 * 10 agents answering. Reproduce (about 1.5 minutes; needs kamailio, rtpengine, sipp, espeak-ng
 * and sox):
 *
 *   npm run bench -- --sections queue [--queue-callers 50] [--queue-agents 10]
 *
 * Set-up: a temporary node root holding the hand-written fixture test/e2e/fixtures/node-basic as
 * release r1, plus Kamailio rows for agents 1003..10NN (HA1, ext, dial), the queue DID and a
 * features.json compiled from a repo written here: queue `bench` (round-robin, agent ring timeout
 * 15 s, no max wait, joinEmpty, position + hold-time announcements every 15 s) with a 10 s sox
 * tone as its music-on-hold class; prompts rendered with espeak-ng. Kamailio (pike's per-address
 * threshold raised: one sipp address stands in for many phones) and RTPengine run on loopback in
 * a 4,000-port block at 50000-56000; the feature daemon runs in this process (startDaemon), so its
 * event timestamps are read directly. Everything started is stopped by PID at the end.
 *
 * Run:
 * 1. Each agent is a sipp UAS (templates/sipp/uas-answer-bye.xml: answers, plays G.711, hangs up
 *    itself after 3 s of talk) registered through Kamailio as its extension, logged in and then
 *    paused through the daemon's API.
 * 2. One sipp UAC (templates/sipp/uac-wait-bye.xml, from the trunk address) places the callers at
 *    10 calls/s; each is answered by the queue, hears music on hold and waits for the BYE.
 * 3. Once all have joined, they wait 32 s more (every caller hears at least two announcements),
 *    then the agents are unpaused and answer them in turn (about 5 rounds of 3 s).
 *
 * Figures:
 * - calls attempted / succeeded / failed at the callers' sipp (succeeded: answered, BYE received
 *   from the daemon after the agent hung up) and the agents' sipp; queue.answered / abandoned /
 *   overflow events. Target: no failed call, every caller answered by an agent.
 * - peak callers waiting (GET /v1/queues `waiting`) while they all hold.
 * - announcement timing: each `queue.announce` step carries when it was due (join + k × interval)
 *   and how late the flow started it (`lateMs`: the daemon's clock, after stopping the music and
 *   before the first `play media`). Target: every one within 1 s of schedule.
 * - RTPengine `play media` requests and their NG round trip (the daemon's histogram), event-loop
 *   lag p99 of this process (prom-client, sampled during the hold), and the wait p50/max.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compileFeatureConfig } from '../src/compile/feature-config.js';
import { EVENT_LOOP_SAMPLING_MS } from '../src/daemon/metrics.js';
import { lateness } from './daemon/report.js';
import { promptFiles, releasePrompts } from '../src/compile/prompts.js';
import { validateRepoDir } from '../src/config/validate.js';
import { DaemonClient } from '../src/daemon/daemon-client.js';
import { startDaemon, type RunningDaemon } from '../src/daemon/daemon.js';
import type { DaemonEvent } from '../src/daemon/events.js';
import { findProgram } from '../src/lab/binaries.js';
import { checkKamailioConfig, renderKamailioConfig, startKamailio } from '../src/lab/kamailio.js';
import { findBusyPorts, type PortPlan } from '../src/lab/ports.js';
import { stopProcess, type LabProcess } from '../src/lab/process.js';
import { startRtpengine } from '../src/lab/rtpengine.js';
import { describeSipp, runSipp, startSipp, type SippResult, type SippRun } from '../src/lab/sipp.js';
import { renderPrompts } from '../src/media/prompt-render.js';

export const QUEUE_TARGETS = { failedCalls: 0, announcementLateMaxMs: 1000 };

/** Options of the queue section. */
export interface QueueBenchOptions {
  callers: number;
  agents: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueBenchOptions = { callers: 50, agents: 10 };

/** What the section measured (bench/out/results.json key `queue`). Durations ms. */
export interface QueueBenchResult {
  callers: number;
  agents: number;
  callerCalls: { attempted: number; succeeded: number; failed: number };
  agentCalls: { succeeded: number; failed: number };
  events: { joined: number; answered: number; abandoned: number; overflow: number };
  peakWaiting: number;
  announcements: { count: number; lateP50Ms: number; lateP99Ms: number; lateMaxMs: number; withinTarget: number };
  waitMs: { p50: number; max: number };
  playMedia: { requests: number; meanMs: number };
  eventLoopLagP99Ms: number;
  musicOnHoldFailures: number;
  holdSeconds: number;
}

const DOMAIN = 'pbx.lab.test';
const TRUNK_IP = '127.0.0.1';
const PHONE_IP = '127.0.0.2';
const QUEUE_DID = '+15550500';
const TALK_MS = 3000;
const INTERVAL_S = 15;
const HOLD_AFTER_JOIN_MS = 32_000;
const PIKE_LINE = /modparam\("pike", "reqs_density_per_unit", \d+\)/;
const BASES = [50_000, 52_000, 54_000, 56_000];
const OFFSET = { sip: 0, rpc: 1, ng: 2, daemonSip: 3, daemonApi: 4, carrierA: 5, carrierB: 6, clientMin: 10, clientMax: 999, rtpMin: 1000, rtpMax: 2999, daemonRtpMin: 3000, daemonRtpMax: 3999 };

const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

async function choosePorts(): Promise<PortPlan & { carriers: [number, number] }> {
  for (const base of BASES) {
    const p = (k: keyof typeof OFFSET) => base + OFFSET[k];
    const plan: PortPlan = {
      base, sip: p('sip'), rpc: p('rpc'), ng: p('ng'), daemonSip: p('daemonSip'), daemonApi: p('daemonApi'),
      rtpMin: p('rtpMin'), rtpMax: p('rtpMax'), clientMin: p('clientMin'), clientMax: p('clientMax'), daemonRtpMin: p('daemonRtpMin'), daemonRtpMax: p('daemonRtpMax'),
    };
    if ((await findBusyPorts(plan)).length === 0) return { ...plan, carriers: [p('carrierA'), p('carrierB')] };
  }
  throw new Error(`no free 4,000-port block at ${BASES.join(', ')}`);
}

const agentNumbers = (n: number) => Array.from({ length: n }, (_, i) => String(1001 + i));
const password = (ext: string) => `secret-${ext}`;

function repoFiles(agents: string[]): Record<string, string> {
  const files: Record<string, string> = {
    'pbx.yaml': `name: bench\ndomain: ${DOMAIN}\nnumberPlan: {extensions: ["1000-1999"], queues: ["7100-7199"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC, musicOnHold: hold}\n`,
    'music-on-hold/hold.yaml': 'kind: MusicOnHold\nid: hold\nfiles: [moh/tone.wav]\n',
    'queues/bench.yaml':
      `kind: Queue\nid: bench\nnumber: "7100"\nstrategy: round-robin\nagents: [${agents.map((a) => `{extension: "${a}"}`).join(', ')}]\n` +
      `maxWait: 0\njoinEmpty: true\nleaveWhenEmpty: false\nagentRingTimeout: 15\nwrapUp: 0\noverflow: hangup\nannouncements: {position: true, holdTime: true, interval: ${INTERVAL_S}}\n`,
    'inbound-routes/queue.yaml': `kind: InboundRoute\nid: queue-line\ndids: ["${QUEUE_DID}"]\ndestination: queue:bench\n`,
    '.secrets.yaml': agents.map((a) => `EXT_${a}: ${password(a)}\n`).join(''),
  };
  for (const a of agents) files[`extensions/${a}.yaml`] = `kind: Extension\nnumber: "${a}"\nname: Agent ${a}\npassword: \${secret:EXT_${a}}\n`;
  return files;
}

/**
 * Runs the queue section. Throws when the node cannot start; a failed call is a figure, not an error.
 * @param root the repository root (for the fixture)
 */
export async function benchQueue(root: string, opts: QueueBenchOptions, log: (line: string) => void): Promise<QueueBenchResult> {
  for (const p of ['kamailio', 'rtpengine', 'sipp'] as const) findProgram(p); // throws with the apt-get hint (sox: execFileSync below)
  const ports = await choosePorts();
  const dir = await mkdtemp(join(tmpdir(), 'pbxctl-bench-queue-'));
  const work = join(dir, 'clients');
  await mkdir(work, { recursive: true });
  const started: LabProcess[] = [];
  const sipps: SippRun[] = [];
  let daemon: RunningDaemon | undefined;
  let nextPort = ports.clientMin;
  const alloc = (count = 1) => {
    const first = nextPort;
    nextPort += count;
    if (nextPort - 1 > ports.clientMax) throw new Error('bench node ran out of client ports');
    return first;
  };
  try {
    const agents = agentNumbers(opts.agents);
    // Release r1: the fixture plus the agents' and the queue DID's Kamailio rows.
    const release = join(dir, 'releases', 'r1');
    await cp(join(root, 'test', 'e2e', 'fixtures', 'node-basic'), release, { recursive: true });
    const list = join(release, 'dispatcher.list');
    await writeFile(list, (await readFile(list, 'utf8')).replaceAll('{{CARRIER_A1_PORT}}', String(ports.carriers[0])).replaceAll('{{CARRIER_A2_PORT}}', String(ports.carriers[1])));
    const append = async (table: string, rows: string[]) => writeFile(join(release, 'db', table), (await readFile(join(release, 'db', table), 'utf8')) + rows.join(''));
    const extra = agents.filter((a) => a !== '1001' && a !== '1002');
    await append('pbx_auth', extra.map((a) => `${a}:0:0:${createHash('md5').update(`${a}:${DOMAIN}:${password(a)}`).digest('hex')}:0\n`));
    await append('pbx_ext', extra.map((a) => `${a}:0:0:maxc=3;class=internal:0\n`));
    await append('pbx_dial', extra.map((a) => `${a}:0:0:t=ext;ext=${a}:0\n`));
    await append('pbx_did', [`${QUEUE_DID}:0:0:t=feature;dest=queue\\:bench:0\n`]);
    await symlink('releases/r1', join(dir, 'current'));

    const repo = join(dir, 'repo');
    for (const [path, text] of Object.entries(repoFiles(agents))) {
      await mkdir(join(repo, path, '..'), { recursive: true });
      await writeFile(join(repo, path), text);
    }
    await mkdir(join(repo, 'moh'), { recursive: true });
    execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', join(repo, 'moh', 'tone.wav'), 'synth', '10', 'sine', '440', 'vol', '0.3']);
    const r = await validateRepoDir(repo, { strict: false, secretsFile: join(repo, '.secrets.yaml') });
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length || !r.state) throw new Error(`bench repo does not validate: ${errors.map((d) => d.message).join('; ')}`);
    const hashes: Record<string, string> = {};
    for (const f of promptFiles(r.state)) hashes[f] = createHash('sha256').update(await readFile(join(repo, f))).digest('hex');
    const config = compileFeatureConfig(r.state, { fileHashes: hashes });
    await mkdir(join(release, 'daemon'), { recursive: true });
    await writeFile(join(release, 'daemon', 'features.json'), `${JSON.stringify(config, null, 1)}\n`);
    const rendered = await renderPrompts(releasePrompts(r.state, config, hashes), { repoDir: repo, cacheDir: join(dir, 'prompt-cache') });
    await mkdir(join(release, 'prompts'), { recursive: true });
    for (const p of rendered) await copyFile(p.path, join(release, 'prompts', p.id));

    const configFile = join(dir, 'etc', 'kamailio.cfg');
    await mkdir(join(dir, 'etc'), { recursive: true });
    const cfg = renderKamailioConfig({ sipAddress: '127.0.0.1', sipPort: ports.sip, rpcPort: ports.rpc, ngSocket: `127.0.0.1:${ports.ng}`, root: dir, domain: DOMAIN, daemonPort: ports.daemonSip });
    await writeFile(configFile, cfg.replace(PIKE_LINE, 'modparam("pike", "reqs_density_per_unit", 50000)'));
    await checkKamailioConfig(configFile);
    started.push(await startRtpengine({ address: '127.0.0.1', ngPort: ports.ng, rtpMin: ports.rtpMin, rtpMax: ports.rtpMax, pidFile: join(dir, 'run', 'rtpengine.pid'), logFile: join(dir, 'log', 'rtpengine.log') }));
    started.push(await startKamailio({ configFile, runDir: join(dir, 'run'), pidFile: join(dir, 'run', 'kamailio.pid'), logFile: join(dir, 'log', 'kamailio.log'), rpcPort: ports.rpc, shmMb: 256 }));
    const token = randomBytes(24).toString('hex');
    daemon = await startDaemon({
      root: dir, sipAddress: '127.0.0.1', sipPort: ports.daemonSip, kamailio: { host: '127.0.0.1', port: ports.sip }, ng: { host: '127.0.0.1', port: ports.ng },
      apiPort: ports.daemonApi, token, rtp: { min: ports.daemonRtpMin, max: ports.daemonRtpMax }, stateDir: join(dir, 'state'),
    });
    const events: DaemonEvent[] = [];
    daemon.events.subscribe((e) => events.push(e));
    const client = new DaemonClient({ host: '127.0.0.1', port: ports.daemonApi, token });
    const target = `127.0.0.1:${ports.sip}`;

    // 1. Agents: a UAS each, registered, logged in and paused.
    const agentCalls = Math.ceil(opts.callers / opts.agents) + 5;
    for (const a of agents) {
      const port = alloc();
      sipps.push(await startSipp({ scenario: 'uas-answer-bye.xml', target, workDir: work, name: `agent-${a}`, localIp: PHONE_IP, localPort: port, mediaPort: alloc(4), calls: agentCalls, timeoutSec: 300, durationMs: TALK_MS }));
      const reg = await runSipp({ scenario: 'register.xml', target, workDir: work, name: `register-${a}`, localIp: PHONE_IP, localPort: alloc(), timeoutSec: 10, service: a, auth: { user: a, password: password(a) }, keys: { contact_host: PHONE_IP, contact_port: port, expires: 600 } });
      if (reg.responses.filter((c) => c >= 200).at(-1) !== 200) throw new Error(`agent ${a} did not register: ${describeSipp(reg)}`);
      await client.queueAgent('login', a);
      await client.queueAgent('pause', a, { reason: 'bench' });
    }
    log(`  queue: ${opts.agents} agents registered, logged in and paused; ${opts.callers} callers at 10/s`);

    // 2. Callers. They wait over 30 s: `-aa` answers the daemon's in-dialog OPTIONS keepalives 200
    // (without it sipp aborts a call on the unexpected request).
    const callerRun = await startSipp({
      scenario: 'uac-wait-bye.xml', target, workDir: work, name: 'queue-callers', localIp: TRUNK_IP, localPort: alloc(), mediaPort: alloc(4),
      calls: opts.callers, timeoutSec: 300, service: QUEUE_DID, keys: { from_user: '+12125550100' }, extraArgs: ['-r', '10', '-l', String(opts.callers), '-aa'],
    });
    sipps.push(callerRun);
    const joined = () => events.filter((e) => e.type === 'queue.joined').length;
    const deadline = Date.now() + 60_000;
    while (joined() < opts.callers && Date.now() < deadline) await sleep(200);
    if (joined() < opts.callers) throw new Error(`only ${joined()} of ${opts.callers} callers joined the queue within 60 s`);
    const allJoinedAt = Date.now();
    log(`  queue: all ${opts.callers} callers waiting; holding ${HOLD_AFTER_JOIN_MS / 1000} s with music on hold and announcements every ${INTERVAL_S} s`);

    // 3. Hold: sample the waiting count and this process's event-loop lag.
    let peakWaiting = 0;
    const lag: number[] = [];
    while (Date.now() - allJoinedAt < HOLD_AFTER_JOIN_MS) {
      const q = (await client.queues()).queues.find((x) => x.queue === 'bench');
      peakWaiting = Math.max(peakWaiting, q?.waiting ?? 0);
      const m = await metricsText(ports.daemonApi, token);
      const v = metricValue(m, 'nodejs_eventloop_lag_p99_seconds');
      if (v !== undefined) lag.push(v * 1000);
      await sleep(1000);
    }
    for (const a of agents) await client.queueAgent('unpause', a);
    log('  queue: agents unpaused');
    const callers = await callerRun.done;
    const answeredDeadline = Date.now() + 30_000;
    while (events.filter((e) => e.type === 'queue.answered').length < opts.callers && Date.now() < answeredDeadline) await sleep(200);
    const agentResults: SippResult[] = [];
    for (const s of sipps.slice(0, agents.length)) agentResults.push(await s.stop());
    const metrics = await metricsText(ports.daemonApi, token);

    const announces = events.filter((e) => e.type === 'call.step' && e.step === 'queue.announce').map((e) => (e.type === 'call.step' ? Number(e.detail.lateMs) : NaN));
    const waits = events.flatMap((e) => (e.type === 'queue.answered' ? [e.waitMs] : []));
    const playCount = metricValue(metrics, 'pbx_rtpengine_ng_request_duration_seconds_count', 'command="play media"') ?? 0;
    const playSum = metricValue(metrics, 'pbx_rtpengine_ng_request_duration_seconds_sum', 'command="play media"') ?? 0;
    return {
      callers: opts.callers,
      agents: opts.agents,
      callerCalls: { attempted: opts.callers, succeeded: callers.successful ?? 0, failed: callers.failed ?? opts.callers - (callers.successful ?? 0) },
      agentCalls: { succeeded: agentResults.reduce((s, x) => s + (x.successful ?? 0), 0), failed: agentResults.reduce((s, x) => s + (x.failed ?? 0), 0) },
      events: {
        joined: joined(),
        answered: events.filter((e) => e.type === 'queue.answered').length,
        abandoned: events.filter((e) => e.type === 'queue.abandoned').length,
        overflow: events.filter((e) => e.type === 'queue.overflow').length,
      },
      peakWaiting,
      announcements: {
        count: announces.length,
        lateP50Ms: percentile(announces, 50),
        lateP99Ms: percentile(announces, 99),
        lateMaxMs: Math.max(...announces),
        withinTarget: announces.filter((x) => x < QUEUE_TARGETS.announcementLateMaxMs).length,
      },
      waitMs: { p50: percentile(waits, 50), max: Math.max(...waits) },
      playMedia: { requests: playCount, meanMs: playCount ? Number(((playSum / playCount) * 1000).toFixed(2)) : 0 },
      eventLoopLagP99Ms: Number(Math.max(...lag).toFixed(1)),
      musicOnHoldFailures: events.filter((e) => e.type === 'call.step' && e.step === 'queue.moh-failed').length,
      holdSeconds: HOLD_AFTER_JOIN_MS / 1000,
    };
  } finally {
    for (const s of sipps) await s.stop().catch(() => undefined);
    await daemon?.stop().catch(() => undefined);
    for (const p of [...started].reverse()) await stopProcess(p.pid, { expectCommand: p.name, group: true, timeoutMs: 10_000 }).catch(() => undefined);
    if (process.env.PBXCTL_BENCH_KEEP) log(`  bench node kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function metricsText(port: number, token: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return res.text();
}

/** The value of a sample line `name{...labels...} value` (labels containing `label`, if given). */
function metricValue(text: string, name: string, label?: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (label !== undefined && !rest.includes(label)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Whether the figures meet the issue's targets. */
export function queueVerdicts(r: QueueBenchResult): { name: string; target: string; value: string; met: boolean }[] {
  const failed = r.callerCalls.failed + r.agentCalls.failed + r.events.abandoned + r.events.overflow + (r.callers - r.events.answered);
  return [
    { name: 'failed calls', target: '0', value: String(failed), met: failed === 0 },
    { name: 'announcement late (max)', target: `< ${QUEUE_TARGETS.announcementLateMaxMs} ms`, value: `${r.announcements.lateMaxMs} ms`, met: r.announcements.lateMaxMs < QUEUE_TARGETS.announcementLateMaxMs },
  ];
}

/** The section's lines for the report. */
export function queueReport(r: QueueBenchResult): string[] {
  const v = queueVerdicts(r);
  return [
    `queue: ${r.callers} callers waiting in one queue with music on hold, ${r.agents} agents answering (daemon in-process)`,
    `  callers: ${r.callerCalls.attempted} attempted, ${r.callerCalls.succeeded} succeeded, ${r.callerCalls.failed} failed; agents' calls: ${r.agentCalls.succeeded} succeeded, ${r.agentCalls.failed} failed`,
    `  events: ${r.events.joined} joined, ${r.events.answered} answered by an agent, ${r.events.abandoned} abandoned, ${r.events.overflow} overflow; peak waiting ${r.peakWaiting}`,
    `  announcements: ${r.announcements.count} (every ${INTERVAL_S} s, ${r.holdSeconds} s hold after the last join); late p50 ${r.announcements.lateP50Ms} ms, p99 ${r.announcements.lateP99Ms} ms, max ${r.announcements.lateMaxMs} ms; ${r.announcements.withinTarget}/${r.announcements.count} within 1 s`,
    `  wait until answered: p50 ${(r.waitMs.p50 / 1000).toFixed(1)} s, max ${(r.waitMs.max / 1000).toFixed(1)} s; play media requests ${r.playMedia.requests} (mean NG round trip ${r.playMedia.meanMs} ms); music-on-hold failures ${r.musicOnHoldFailures}`,
    `  event-loop lag p99 (worst second during the hold, as scraped: the ${EVENT_LOOP_SAMPLING_MS} ms sampling tick included): ${r.eventLoopLagP99Ms} ms; lateness ${lateness(r.eventLoopLagP99Ms)} ms`,
    ...v.map((x) => `  ${x.met ? 'ok    ' : 'MISSED'} ${x.name}: ${x.value} (target ${x.target})`),
  ];
}
