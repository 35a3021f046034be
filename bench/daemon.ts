/**
 * Feature daemon benchmark. Reproduce (3-4 minutes; a fresh `npm run build` first: the daemon
 * runs as the built CLI; needs kamailio, rtpengine, sipp, espeak-ng and sox):
 *
 *   npm run bench -- --sections daemon [--ivr-calls 400] [--cps-calls 2000] [--cps-concurrency 100]
 *                    [--daemon-parts ivr,cps] [--profile]
 *
 * run.ts prints the machine first; results go to bench/out/results.json (key `daemon`). Run it on a
 * quiet machine: it warns when other vitest/sipp processes run, and it reports the CPU time the
 * hypervisor stole (/proc/stat `steal`), which on a shared VM moves every latency figure.
 *
 * Set-up (as test/e2e/daemon-calls.e2e.test.ts, with bigger port ranges): a temporary node root
 * holding the hand-written fixture test/e2e/fixtures/node-basic as release r1 plus a `dial` row
 * 6010 -> ring-group:solo, and a features.json compiled from a small repo written here (DID
 * +15550199 -> ivr:main, whose option 1 goes to ivr:second; ring group `solo`, 6010, whose only
 * member is 1002), prompts rendered with espeak-ng. Kamailio, RTPengine (2,000 RTP ports) and
 * `node bin/pbxctl daemon` (1,000 RTP ports; its own process, so its RSS, CPU and event loop are its
 * own) run on loopback in a block of 4,000 ports at 40000, 42000, 44000 or 46000 (the first whose
 * control ports are free; client, RTPengine and daemon ports someone holds are skipped). Two
 * changes to the lab's Kamailio: pike's flood threshold (30 requests / 2 s per non-trunk address)
 * is raised, because one sipp address stands in for many phones, and it gets 512 MB of shared
 * memory instead of 64 (at ~400 calls/s the lab's 64 MB runs out and Kamailio answers 500).
 * Everything started is stopped by PID at the end (also on failure or Ctrl-C) and the temporary
 * root is removed (PBXCTL_BENCH_KEEP=1 keeps it, with every log).
 *
 * 1. IVR (bench/sipp/uac-ivr-bench.xml: a carrier on 127.0.0.1): --ivr-calls calls at 50/s, at most
 *    200 at once (`-r 50 -l 200`); each waits for the greeting (its length + 1 s), sends RFC 4733
 *    digit 1 (dtmf_2833_1.pcap), talks 4.3 s (G.711 from sipp, relayed to the daemon's RTP socket
 *    as in any IVR) and hangs up. Ten warm-up calls first, not counted. The measured run has no
 *    event-stream subscriber (each event costs the daemon a socket write); the same load runs a
 *    second time while the bench reads GET /v1/events, for the per-call digit timing.
 *    - calls attempted / succeeded / failed: from sipp's per-call log (-trace_logs, µs timestamps):
 *      succeeded = 200 received and the BYE answered 200. sipp's own FailedCall count misses calls
 *      answered with a failure (its scenario ends them normally), so it is shown apart.
 *    - the digit acted: calls seen at step `ivr:second` in GET /v1/calls (polled every second); in
 *      the second run, events `ivr.digits` 1 (valid) then `ivr:second` per call.
 *    - peak concurrent calls: GET /v1/health `calls` every 250 ms (second run: started - ended on
 *      the event stream).
 *    - INVITE->200 p50/p99: at sipp, INVITE sent -> 200 received, per call (retransmissions
 *      included). Target p99 < 200 ms.
 *    - DTMF-to-action: the daemon's `pbx_dtmf_to_action_seconds` (difference over the run): from the
 *      daemon reading the digit's RFC 4733 end packet off its RTP socket (the digit is emitted) to
 *      the IVR having acted on it (gather() returned; the flow moves on). Time the packet waits in
 *      the socket while the event loop is busy is not in it. Prometheus buckets, so p99 is the
 *      bucket bound it falls under (and interpolated). Target p99 < 100 ms. End to end, second run:
 *      sipp sending the end packet (the digit's log timestamp + the end packet's offset in the pcap,
 *      140 ms) -> the `ivr.digits` event's `at` (same clock, ms resolution): sipp's pcap thread,
 *      RTPengine, the socket queue and the daemon together.
 *    - event-loop lag p99: `nodejs_eventloop_lag_p99_seconds` scraped every second (prom-client
 *      resets the histogram at each scrape: each value is the p99 of the second before). The
 *      histogram samples every 10 ms and counts that interval, so an idle loop reads ~10-11 ms.
 *      Printed: the worst second (target < 20 ms) with the CPU share stolen by the hypervisor in
 *      it, the worst of the seconds with < 5% stolen, the last second, the idle value, and the
 *      longest single delay (`nodejs_eventloop_lag_max_seconds`).
 *    - RTPengine NG round trips by command, as the daemon measures them (its histogram).
 *    - memory per call: (daemon VmRSS at its highest during the run - VmRSS idle after the
 *      warm-up) / peak concurrent calls (/proc/PID/status every 250 ms); uncollected garbage
 *      counts, so an upper bound.
 *    - CPU: the daemon's (utime+stime, % of one core), the machine's busy and stolen shares, and
 *      UDP datagrams the kernel dropped for a full receive buffer, by socket when it is the node's.
 * 2. Calls per second, extension to extension (bench/sipp/uac-ext-bench.xml from 127.0.0.2 as 1001
 *    with digest auth, calls held 100 ms, no RTP; bench/sipp/uas-bench.xml registered as 1002,
 *    answering at once), (a) to 1002 directly (Kamailio only, media anchored by rtpengine_manage)
 *    and (b) to 6010, the one-member ring group (Kamailio -> daemon -> Kamailio -> 1002):
 *    - capacity: --cps-calls calls with at most --cps-concurrency in flight (`-r 1000 -l 100`,
 *      closed loop): calls succeeded / (first INVITE sent -> last BYE answered).
 *    - sustained: open loop (`-r RATE`, 5 s of calls per rate) from half the capacity, up 1.5x while
 *      sustained, then bisecting (at most 6 rates, to within 10%): the highest rate with no failed
 *      call, sipp keeping the rate, and p99 post-dial delay (first INVITE, 407 challenge included,
 *      -> 200) < 200 ms.
 *    - the ratio daemon / direct of both; failures, retransmissions, CPU, dropped datagrams and, for
 *      the daemon path, INVITEs Kamailio gave up on (daemon silent for 3 s: 503) are printed too.
 *
 * With --profile the daemon runs under `node --cpu-prof` (a little slower); run.ts prints where
 * its CPU time went over the whole section (the profile stays in bench/out/profiles/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compileFeatureConfig } from '../src/compile/feature-config.js';
import { releasePrompts } from '../src/compile/prompts.js';
import { validateRepoDir } from '../src/config/validate.js';
import type { DaemonEvent } from '../src/daemon/events.js';
import { kamailioRpc } from '../src/kamailio/rpc-client.js';
import { findProgram } from '../src/lab/binaries.js';
import { checkKamailioConfig, renderKamailioConfig, startKamailio } from '../src/lab/kamailio.js';
import { findBusyPorts, type PortPlan } from '../src/lab/ports.js';
import { logTail, spawnLogged, stopProcess, waitReady, type LabProcess } from '../src/lab/process.js';
import { startRtpengine } from '../src/lab/rtpengine.js';
import { runSipp } from '../src/lab/sipp.js';
import { renderPrompts } from '../src/media/prompt-render.js';

/** A rate counts as sustained when no call fails and the p99 post-dial delay stays under this. */
export const SUSTAIN_PDD_P99_MS = 200;

export const DAEMON_TARGETS = {
  ivrConcurrent: 200,
  inviteTo200P99Ms: 200,
  dtmfToActionP99Ms: 100,
  eventLoopLagP99Ms: 20,
};

/** What the benchmark needs from run.ts. */
export interface DaemonBenchDeps {
  root: string;
  bin: string;
  /** Where `--cpu-prof` writes the daemon's profile; no profiling when undefined. */
  profileDir?: string;
}

export interface DaemonBenchOptions {
  /** What to run: the IVR calls (`ivr`), the calls-per-second comparison (`cps`), or both. */
  parts: ('ivr' | 'cps')[];
  ivrCalls: number;
  ivrConcurrency: number;
  ivrRate: number;
  cpsCalls: number;
  cpsConcurrency: number;
  cpsRate: number;
  /** Fixed in bench/sipp/uac-ext-bench.xml. */
  cpsHoldMs: number;
}

export const DEFAULT_DAEMON_OPTIONS: DaemonBenchOptions = {
  parts: ['ivr', 'cps'],
  ivrCalls: 400,
  ivrConcurrency: 200,
  ivrRate: 50,
  cpsCalls: 2000,
  cpsConcurrency: 100,
  cpsRate: 1000,
  cpsHoldMs: 100,
};

interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface CallCounts {
  attempted: number;
  succeeded: number;
  failed: number;
  /** sipp's FailedCall(C) and Retransmissions(C) from its statistics file. */
  sippFailed?: number;
  sippRetransmissions?: number;
  sippExitCode: number | null;
}

interface LagFigures {
  maxOverScrapes?: number;
  stealInWorstSecond?: number;
  maxInCalmSeconds?: number;
  calmSeconds?: number;
  lastScrape?: number;
  scrapes: number;
}

/** A second counts as calm when the hypervisor stole less than this share of the machine's CPU time, %. */
const CALM_STEAL_PERCENT = 5;

/** CPU over a run: the daemon's (% of one core) and the machine's (busy and stolen, % of all its CPU time). */
interface CpuUse {
  daemonPercentOfCore: number;
  machineBusyPercent: number;
  stealPercent: number;
}

interface UdpDrops {
  /** UDP datagrams the kernel dropped machine-wide (a full receive buffer: RcvbufErrors) during the run. */
  udpDrops: number;
  /** Of those, by socket of the node (Kamailio, RTPengine, the daemon, sipp), when seen. */
  udpDropsBySocket: Record<string, number>;
}

/** One sipp run of extension-to-extension calls. */
export interface CpsRun extends UdpDrops {
  calls: CallCounts;
  /** First INVITE sent to the last BYE answered, s. */
  wallS: number;
  /** Calls that succeeded / wallS. */
  achievedCps: number;
  /** Rate at which sipp sent the calls' first INVITEs. */
  startedCps: number;
  /** First INVITE sent (407 challenge included) -> 200 received. */
  postDialDelayMs?: Dist;
  /** Daemon path: calls the daemon completed (pbx_calls_total{state="completed"} difference). */
  completedByDaemon?: number;
  /** Daemon path: INVITEs Kamailio gave up on (no reply from the daemon within 3 s: 503 to the caller). */
  daemonNoAnswer?: number;
  cpu: CpuUse;
}

export interface CpsFigures {
  path: 'direct' | 'daemon';
  number: string;
  /** Closed loop: --cps-calls calls with at most --cps-concurrency in flight. */
  capacity: CpsRun;
  /** Open loop at fractions of the capacity, lowest first, until one is not sustained. */
  steps: (CpsRun & { offeredCps: number; pass: boolean })[];
  /** The highest offered rate sustained: no failed call, p99 post-dial delay < SUSTAIN_PDD_P99_MS (0: none). */
  sustainableCps: number;
}

export interface DaemonBenchResult {
  date: string;
  targets: typeof DAEMON_TARGETS;
  options: DaemonBenchOptions;
  portBase: number;
  daemonCommand: string;
  greetingMs: number;
  digitAfterMs: number;
  /** Other vitest / sipp processes seen when the run started (their CPU skews every figure). */
  otherActivity: string[];
  ivr?: UdpDrops & {
    /** The measured run (no event-stream subscriber). */
    calls: CallCounts;
    /** Calls seen at step `ivr:second` in GET /v1/calls (polled every second): the digit acted. */
    actionsSeen: number;
    /** Most calls in progress in the daemon (GET /v1/health every 250 ms, /v1/calls every second). */
    peakConcurrent: number;
    inviteTo200Ms?: Dist;
    dtmfToAction: { count: number; p50BoundMs?: number; p99BoundMs?: number; p99InterpolatedMs?: number; meanMs?: number };
    /**
     * Per 1 s scrape: the worst second (and the CPU share the hypervisor stole in it), the last one,
     * and the worst among the seconds in which it stole less than CALM_STEAL_PERCENT.
     */
    eventLoopLagP99Ms: LagFigures & { idle?: number };
    eventLoopLagMaxMs?: number;
    /** The daemon's RTPengine NG round trips during the run, by command (pbx_rtpengine_ng_request_duration_seconds). */
    ngLatency: Record<string, { count: number; p50BoundMs?: number; p99BoundMs?: number; meanMs: number }>;
    memory: { idleRssMB: number; peakRssMB: number; perCallKB: number };
    cpu: CpuUse;
    wallS: number;
    /** The same load again while the bench reads GET /v1/events. */
    withEventStream: {
      calls: CallCounts;
      /** Calls whose events show `ivr.digits` 1 (valid) and then `ivr:second`. */
      actionsProven: number;
      /** Calls started - calls ended on the event stream, at its highest. */
      peakConcurrent: number;
      inviteTo200Ms?: Dist;
      /** sipp sending the digit's end packet -> the `ivr.digits` event's `at`. */
      sippDigitToEventMs?: Dist;
      eventLoopLagP99Ms: LagFigures;
      cpu: CpuUse;
      events: number;
    };
    daemonLogWarnings: number;
  };
  cps?: { direct: CpsFigures; daemon: CpsFigures; capacityRatio: number; sustainableRatio: number };
  /** Calls still up in the daemon 30 s after their run, hung up through the API (lost BYEs). */
  stuckCalls: number;
  /** Kamailio's shared memory at the end: size and high-water mark, MB (core.shmmem). */
  kamailioShm?: { totalMB: number; maxUsedMB: number };
  /** Lines of kamailio.log about shared memory running out. */
  kamailioShmErrors: number;
  profileFile?: string;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const round = (x: number, digits = 0) => Number(x.toFixed(digits));
/** Nearest-rank percentile. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
function dist(xs: readonly number[]): Dist | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 1), p90: round(percentile(s, 90), 1), p99: round(percentile(s, 99), 1), max: round(s[s.length - 1]!, 1) };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Local ports bound by anyone (UDP and TCP, v4 and v6), from /proc/net. */
function boundLocalPorts(): Set<number> {
  const ports = new Set<number>();
  for (const f of ['/proc/net/udp', '/proc/net/udp6', '/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (Number.isInteger(port)) ports.add(port);
    }
  }
  return ports;
}

function vmRssKB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of `pid`, in clock ticks (USER_HZ, 100 on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Machine-wide [busy, total] jiffies from /proc/stat. */
/**
 * Machine-wide jiffies from /proc/stat: [busy (user, nice, system, irq, softirq), steal, total].
 * Steal is time the hypervisor gave this VM's CPUs to someone else.
 */
function machineTicks(): [number, number, number] {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return [user + nice + system + irq + softirq, steal, cpu.reduce((a, b) => a + b, 0)];
}

/** Machine-wide UDP counters (/proc/net/snmp): datagrams dropped because a socket's receive buffer was full. */
function udpDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

/** Socket inodes a process holds (/proc/PID/fd links `socket:[INODE]`). */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

/** The node's UDP sockets (/proc/net/udp): inode, what it is, datagrams it dropped so far (a full receive buffer). */
function udpSockets(node: BenchNode): { inode: string; label: string; drops: number }[] {
  const p = node.ports;
  const daemonInodes = socketInodes(node.daemon.pid);
  const out: { inode: string; label: string; drops: number }[] = [];
  for (const line of read('/proc/net/udp').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    const label =
      port === p.sip ? 'kamailio SIP'
      : port === p.ng ? 'rtpengine NG'
      : port === p.daemonSip ? 'daemon SIP'
      : port >= p.rtpMin && port <= p.rtpMax ? 'rtpengine RTP'
      : port >= p.daemonRtpMin && port <= p.daemonRtpMax ? 'daemon RTP'
      : daemonInodes.has(f[9]!) ? 'daemon NG client'
      : sippMediaPorts.has(port) ? 'sipp media (never read by sipp)'
      : port >= p.base && port < p.base + SPAN ? `sipp udp:${port}`
      : undefined;
    if (label) out.push({ inode: f[9]!, label, drops: Number(f[f.length - 1]) || 0 });
  }
  return out;
}

/**
 * Watches the node's UDP sockets during a run (every 500 ms, so sockets of calls that end are
 * seen too) and the machine-wide RcvbufErrors counter; stop() gives the datagrams dropped meanwhile.
 */
function watchDrops(node: BenchNode) {
  const initial = new Map(udpSockets(node).map((x) => [x.inode, x.drops]));
  const total0 = udpDrops();
  const seen = new Map<string, { label: string; drops: number }>();
  const poll = () => {
    for (const x of udpSockets(node)) {
      const d = x.drops - (initial.get(x.inode) ?? 0);
      if (d > 0) seen.set(x.inode, { label: x.label, drops: Math.max(d, seen.get(x.inode)?.drops ?? 0) });
    }
  };
  const timer = setInterval(poll, 500);
  return {
    stop(): { udpDrops: number; udpDropsBySocket: Record<string, number> } {
      clearInterval(timer);
      poll();
      const bySocket: Record<string, number> = {};
      for (const { label, drops } of seen.values()) bySocket[label] = (bySocket[label] ?? 0) + drops;
      return { udpDrops: udpDrops() - total0, udpDropsBySocket: bySocket };
    },
  };
}

/** Other vitest or sipp processes on the machine (not ours): their CPU skews the figures. */
function otherActivity(ours: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || ours.has(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (/\bvitest\b|(^|\/)sipp\b/.test(cmd)) out.push(`${pid} ${cmd.slice(0, 100)}`);
    } catch {
      // gone
    }
  }
  return out;
}

/** Offset (ms) of the first RFC 4733 end packet from the first packet of a dtmf_2833 pcap. */
export function dtmfEndOffsetMs(pcapFile: string): number {
  const f = readFileSync(pcapFile);
  const le = f.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number) => (le ? f.readUInt32LE(o) : f.readUInt32BE(o));
  const linkType = u32(20);
  const l2 = linkType === 1 ? 14 : linkType === 113 ? 16 : 0;
  let off = 24;
  let t0: number | undefined;
  while (off + 16 <= f.length) {
    const t = u32(off) * 1000 + u32(off + 4) / 1000;
    const len = u32(off + 8);
    const pkt = f.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    t0 ??= t;
    const ihl = (pkt[l2]! & 0x0f) * 4;
    const rtp = pkt.subarray(l2 + ihl + 8);
    if (rtp.length >= 16 && (rtp[13]! & 0x80) !== 0) return t - t0;
  }
  throw new Error(`${pcapFile}: no RFC 4733 end packet`);
}

// ---------------------------------------------------------------------------------------------
// Ports: a 4,000-port block in 40000-49999.

const SPAN = 4000;
const OFFSET = { sip: 0, rpc: 1, ng: 2, daemonSip: 3, daemonApi: 4, carrierA: 5, carrierB: 6, clientMin: 10, clientMax: 999, rtpMin: 1000, rtpMax: 2999, daemonRtpMin: 3000, daemonRtpMax: 3999 };
const BASES = [40_000, 42_000, 44_000, 46_000];

interface Ports {
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

async function choosePorts(): Promise<Ports> {
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

const FIXTURE = join('test', 'e2e', 'fixtures', 'node-basic');
const DOMAIN = 'pbx.lab.test';
const TRUNK_IP = '127.0.0.1';
const PHONE_IP = '127.0.0.2';
const IVR_DID = '+15550199';
const SOLO_NUMBER = '6010';
const PIKE_LINE = /modparam\("pike", "reqs_density_per_unit", \d+\)/;
const PIKE_DENSITY = 50_000;
/**
 * Kamailio's shared memory, MB. The lab's 64 MB runs out near 400 calls/s (transactions stay for
 * their wait timer, dialogs a while after the BYE) and Kamailio then answers 500: the direct path
 * would measure that instead of its CPU.
 */
const KAMAILIO_SHM_MB = 512;

const REPO: Record<string, string> = {
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

interface BenchNode {
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
const started: LabProcess[] = [];
const sippChildren = new Set<ChildProcess>();
/** sipp's -mp ports: sipp never reads what arrives there (no -rtp_echo), so their buffers overflow. */
const sippMediaPorts = new Set<number>();

async function stopAll(log: (l: string) => void): Promise<void> {
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

async function writeRepo(dir: string): Promise<void> {
  for (const [path, text] of Object.entries(REPO)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

async function startNode(deps: DaemonBenchDeps, log: (l: string) => void): Promise<BenchNode> {
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
    if (!PIKE_LINE.test(cfg)) throw new Error('templates/kamailio/kamailio.cfg has no pike reqs_density_per_unit line: update bench/daemon.ts');
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
      '--state-dir', join(root, 'state', 'daemon'),
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

// ---------------------------------------------------------------------------------------------
// The daemon's API: requests, the event stream, metrics.

function api(port: number, token: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

function apiPost(port: number, token: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The daemon's event stream (GET /v1/events), kept in memory, with the number of calls live. */
class EventTap {
  readonly events: DaemonEvent[] = [];
  live = 0;
  peak = 0;
  private readonly req: http.ClientRequest;

  private constructor(req: http.ClientRequest) {
    this.req = req;
  }

  static open(port: number, token: string): Promise<EventTap> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v1/events', headers: { authorization: `Bearer ${token}` } });
      const tap = new EventTap(req);
      req.on('response', (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/events answered ${res.statusCode}`));
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (data) tap.add(JSON.parse(data.slice(6)) as DaemonEvent);
          }
        });
        res.on('error', () => undefined);
        resolve(tap);
      });
      req.on('error', reject);
    });
  }

  private add(e: DaemonEvent): void {
    this.events.push(e);
    if (e.type === 'call.started') this.live++;
    else if (e.type === 'call.ended') this.live--;
    this.peak = Math.max(this.peak, this.live);
  }

  close(): void {
    this.req.destroy();
  }
}

/** The value of an unlabelled sample `name` in Prometheus text. */
function metric(text: string, name: string, label?: string): number | undefined {
  const labels = label === undefined ? '(?:\\{[^}]*\\})?' : `\\{[^}]*${label}[^}]*\\}`;
  const m = new RegExp(`^${name}${labels} ([^\\s]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

interface Hist {
  buckets: [number, number][];
  count: number;
  sum: number;
}

/** A histogram from Prometheus text; `label` (e.g. `command="offer"`) picks one series of a labelled one. */
function histogram(text: string, name: string, label?: string): Hist {
  const buckets: [number, number][] = [];
  const post = label === undefined ? '' : `,${label}`;
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"${post}\\} (\\S+)`, 'gm'))) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  return { buckets: buckets.sort((a, b) => a[0] - b[0]), count: metric(text, `${name}_count`, label) ?? 0, sum: metric(text, `${name}_sum`, label) ?? 0 };
}

/** The label values of `key` in a labelled metric's samples. */
function labelValues(text: string, name: string, key: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`^${name}_count\\{[^}]*${key}="([^"]+)"`, 'gm'))].map((m) => m[1]!))];
}

function histDiff(a: Hist, b: Hist): Hist {
  return { buckets: b.buckets.map(([le, c], i) => [le, c - (a.buckets[i]?.[1] ?? 0)]), count: b.count - a.count, sum: b.sum - a.sum };
}

/** Quantile of a cumulative histogram: the bucket bound it falls under, and linear interpolation inside the bucket. */
function histQuantile(h: Hist, q: number): { bound: number; interpolated: number } | undefined {
  if (h.count <= 0) return undefined;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCum = 0;
  for (const [le, cum] of h.buckets) {
    if (cum >= rank) {
      if (!Number.isFinite(le)) return { bound: Infinity, interpolated: prevLe };
      return { bound: le, interpolated: prevLe + ((le - prevLe) * (rank - prevCum)) / Math.max(1, cum - prevCum) };
    }
    prevLe = le;
    prevCum = cum;
  }
  return undefined;
}

/**
 * Samples the daemon while a run goes on: VmRSS and GET /v1/health (calls in progress) every
 * 250 ms; /metrics (event-loop lag) and GET /v1/calls (which calls reached `ivr:second`) every second.
 */
function startSampler(node: BenchNode) {
  const rss: number[] = [];
  const lagP99: number[] = [];
  const lagMax: number[] = [];
  /** Share of the machine's CPU time stolen by the hypervisor in the second before each scrape, %. */
  const steal: number[] = [];
  let ticks = machineTicks();
  const reachedSecond = new Set<string>();
  let peakLive = 0;
  let running = true;
  const loop = (async () => {
    let tick = 0;
    while (running) {
      const kb = vmRssKB(node.daemon.pid);
      if (kb !== undefined) rss.push(kb);
      try {
        peakLive = Math.max(peakLive, await liveCalls(node));
        if (tick++ % 4 === 3) {
          const m = (await api(node.ports.daemonApi, node.token, '/metrics')).body;
          const p99 = metric(m, 'nodejs_eventloop_lag_p99_seconds');
          const max = metric(m, 'nodejs_eventloop_lag_max_seconds');
          const now = machineTicks();
          if (p99 !== undefined) {
            lagP99.push(p99 * 1000);
            steal.push(((now[1] - ticks[1]) / Math.max(1, now[2] - ticks[2])) * 100);
          }
          ticks = now;
          if (max !== undefined) lagMax.push(max * 1000);
          const { calls } = JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/calls')).body) as { calls: { callId: string; step?: string }[] };
          peakLive = Math.max(peakLive, calls.length);
          for (const c of calls) if (c.step === 'ivr:second') reachedSecond.add(c.callId);
        }
      } catch {
        // a missed sample is not a failure of the daemon
      }
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rss, lagP99, lagMax, steal, peakLive, reachedSecond };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// sipp

const SCENARIOS = join('bench', 'sipp');

interface SippCall {
  inv?: number;
  ok?: number;
  fail?: number;
  dtmf?: number;
  end?: number;
}

interface SippRun {
  command: string[];
  exitCode: number | null;
  calls: Map<string, SippCall>;
  stats?: Record<string, string>;
  output: string;
  errorLog: string;
}

interface SippSpec {
  name: string;
  scenario: string;
  target: string;
  localIp: string;
  localPort: number;
  mediaPort: number;
  args: string[];
}

function sippCommand(deps: DaemonBenchDeps, node: BenchNode, s: SippSpec): string[] {
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

function spawnSipp(command: string[], cwd: string): { child: ChildProcess; done: Promise<{ exitCode: number | null; output: string }> } {
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
async function runUac(deps: DaemonBenchDeps, node: BenchNode, s: SippSpec): Promise<SippRun> {
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

function counts(run: SippRun): CallCounts {
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
function describeRun(run: SippRun): string {
  const entries = run.errorLog.split(/(?=\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\.\d+\t\d+\.\d+: )/).map((e) => e.trim()).filter((e) => e !== '');
  const real = entries.filter((e) => /^\d{4}-/.test(e) && !/receive timeout on message uac-ext-bench|Dead call .* \(successful\)/.test(e));
  const shown = real.slice(0, 3).map((e) => `      ${e.replace(/\s+/g, ' ').slice(0, 300)}`);
  const fatal = run.exitCode !== 0 && run.exitCode !== 1 ? `\n${run.output.trim().split('\n').slice(-8).map((l) => `      ${l}`).join('\n')}` : '';
  return `      ${run.command.join(' ').slice(0, 300)}${fatal}\n      sipp exit ${run.exitCode}; ${real.length} errors in the first 20,000 characters of its error log${shown.length ? `, first ones:\n${shown.join('\n')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/** Lines of kamailio.log saying the daemon did not answer a relayed INVITE within 3 s (Kamailio then answers 503). */
function daemonNoAnswers(node: BenchNode): number {
  return read(join(node.root, 'log', 'kamailio.log')).split('\n').filter((l) => l.includes('feature daemon at') && l.includes('did not answer')).length;
}

/** Calls the daemon has in progress (GET /v1/health). */
async function liveCalls(node: BenchNode): Promise<number> {
  return (JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/health')).body) as { calls: number }).calls;
}

/** Calls the bench had to hang up through the API because they never ended (e.g. a lost BYE). */
let stuckCalls = 0;

/**
 * Waits until the daemon has no call left; after 30 s, hangs up what is left through the API (a call
 * whose BYE was lost stays up: the daemon has no session timer) and counts those calls.
 */
async function drained(node: BenchNode, what: string, log: (l: string) => void): Promise<void> {
  try {
    await waitFor(`${what}: the daemon to end every call`, async () => (await liveCalls(node)) === 0, 30_000, 200);
  } catch {
    const { calls } = JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/calls')).body) as { calls: { callId: string; state: string; step?: string }[] };
    const kinds = new Map<string, number>();
    for (const c of calls) kinds.set(`${c.state}/${c.step ?? '-'}`, (kinds.get(`${c.state}/${c.step ?? '-'}`) ?? 0) + 1);
    log(`  WARNING: ${calls.length} calls still up in the daemon 30 s after ${what} (state/step: ${[...kinds].map(([k, v]) => `${k} x${v}`).join(', ')}; e.g. ${calls[0]?.callId}); hanging them up through the API`);
    stuckCalls += calls.length;
    for (const c of calls) await apiPost(node.ports.daemonApi, node.token, `/v1/calls/${encodeURIComponent(c.callId)}/hangup`);
    await waitFor(`${what}: the daemon to end the calls hung up through the API`, async () => (await liveCalls(node)) === 0, 30_000, 200);
  }
}

/** CPU of the daemon (% of one core) and of the machine (% busy) between start() and stop(). */
function cpuMeter(pid: number) {
  const c0 = cpuTicks(pid);
  const m0 = machineTicks();
  const w0 = performance.now();
  return () => {
    const s = (performance.now() - w0) / 1000;
    const m1 = machineTicks();
    const total = Math.max(1, m1[2] - m0[2]);
    return {
      daemonPercentOfCore: round(((cpuTicks(pid) - c0) / 100 / s) * 100),
      machineBusyPercent: round(((m1[0] - m0[0]) / total) * 100),
      stealPercent: round(((m1[1] - m0[1]) / total) * 100),
    };
  };
}

const SUSTAIN_STEP_S = 5;
const SUSTAIN_MAX_STEPS = 6;
/** The search stops when the lowest rate not sustained is within 10% of the highest sustained. */
const SUSTAIN_PRECISION = 0.1;

/**
 * Runs the daemon benchmark on a fresh node; `log` gets progress lines.
 * @throws when the node cannot start or the warm-up calls fail (the node is stopped either way)
 */
export async function benchDaemon(deps: DaemonBenchDeps, opts: DaemonBenchOptions, log: (line: string) => void): Promise<DaemonBenchResult> {
  const onSignal = (sig: NodeJS.Signals) => {
    void stopAll(log).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let node: BenchNode | undefined;
  let tap: EventTap | undefined;
  const startedAt = Date.now();
  stuckCalls = 0;
  try {
    const others = otherActivity(new Set());
    if (others.length) log(`  WARNING: other test activity on the machine (${others.length} vitest/sipp processes); the figures will be high:\n    ${others.slice(0, 5).join('\n    ')}`);
    node = await startNode(deps, log);
    const n = node;
    log(`  node: ports ${n.ports.base}-${n.ports.base + SPAN - 1} (kamailio ${n.ports.sip}, daemon ${n.ports.daemonSip}, RTPengine RTP ${n.ports.rtpMin}-${n.ports.rtpMax}, daemon RTP ${n.ports.daemonRtpMin}-${n.ports.daemonRtpMax}${n.ports.busyInBlock ? `, ${n.ports.busyInBlock} already bound by others` : ''}); daemon pid ${n.daemon.pid}`);
    const scrape = async () => (await api(n.ports.daemonApi, n.token, '/metrics')).body;
    const dtmfPcap = '/usr/share/sip-tester/dtmf_2833_1.pcap';
    const endOffset = dtmfEndOffsetMs(dtmfPcap);
    const digitAfterMs = n.greetingMs + 1000;
    const ivrSpec = (name: string, calls: number, rate: number, limit: number): SippSpec => ({
      name, scenario: 'uac-ivr-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: TRUNK_IP, localPort: n.allocPorts(), mediaPort: n.allocPorts(4),
      args: [
        '-s', IVR_DID, '-key', 'from_user', '+12125550123', '-key', 'dtmf_pcap', dtmfPcap, '-d', String(digitAfterMs),
        '-m', String(calls), '-r', String(rate), '-rp', '1000', '-l', String(limit),
        '-recv_timeout', '30000', '-timeout', `${Math.ceil(calls / rate + 60)}s`, '-timeout_error',
      ],
    });

    // ---- 1. IVR calls
    let ivr: DaemonBenchResult['ivr'];
    if (opts.parts.includes('ivr')) {
      log(`  IVR warm-up: 10 calls (greeting ${n.greetingMs} ms; digit 1 at ${digitAfterMs} ms)`);
      const warm = await runUac(deps, n, ivrSpec('ivr-warmup', 10, 5, 10));
      const wc = counts(warm);
      if (wc.succeeded !== 10) throw new Error(`IVR warm-up: ${wc.succeeded}/10 calls succeeded\n${describeRun(warm)}`);
      await drained(n, 'IVR warm-up', log);
      await sleep(2000);
      const idleRss: number[] = [];
      for (let i = 0; i < 5; i++) {
        idleRss.push(vmRssKB(n.daemon.pid) ?? NaN);
        await sleep(200);
      }
      const idleRssKB = [...idleRss].sort((a, b) => a - b)[2]!;

      /** One IVR run under the sampler; with `events`, the daemon's event stream is read meanwhile. */
      const measured = async (name: string, events: boolean) => {
        const t = events ? await EventTap.open(n.ports.daemonApi, n.token) : undefined;
        tap = t;
        await scrape(); // resets the event-loop histogram
        await sleep(1000);
        const before = await scrape();
        const meter = cpuMeter(n.daemon.pid);
        const watch = watchDrops(n);
        const w0 = performance.now();
        log(`  IVR run${events ? ' with an event-stream subscriber' : ''}: ${opts.ivrCalls} calls, -r ${opts.ivrRate} -l ${opts.ivrConcurrency} ...`);
        const sampler = startSampler(n);
        const run = await runUac(deps, n, ivrSpec(name, opts.ivrCalls, opts.ivrRate, opts.ivrConcurrency));
        const samples = await sampler.stop();
        const wallS = (performance.now() - w0) / 1000;
        const cpuUse = meter();
        const dropped = watch.stop();
        await drained(n, `IVR run ${name}`, log);
        const after = await scrape();
        t?.close();
        tap = undefined;
        const c = counts(run);
        log(`    ${c.succeeded}/${c.attempted} succeeded in ${round(wallS, 1)} s, at most ${samples.peakLive} calls in the daemon`);
        if (c.failed > 0) log(`    IVR failures (sipp):\n${describeRun(run)}`);
        const inviteTo200 = dist([...run.calls.values()].flatMap((x) => (x.inv !== undefined && x.ok !== undefined ? [x.ok - x.inv] : [])));
        const worst = samples.lagP99.indexOf(Math.max(...samples.lagP99));
        const calm = samples.lagP99.filter((_, k) => (samples.steal[k] ?? 100) < CALM_STEAL_PERCENT);
        const lag = {
          ...(samples.lagP99.length ? { maxOverScrapes: round(Math.max(...samples.lagP99), 2), stealInWorstSecond: round(samples.steal[worst] ?? NaN) } : {}),
          ...(calm.length ? { maxInCalmSeconds: round(Math.max(...calm), 2), calmSeconds: calm.length } : {}),
          ...(samples.lagP99.length ? { lastScrape: round(samples.lagP99.at(-1)!, 2) } : {}),
          scrapes: samples.lagP99.length,
        };
        return { run, c, samples, wallS, cpuUse, dropped, before, after, inviteTo200, lag, tap: t };
      };

      // The measured run: no event-stream subscriber (each event costs the daemon a write).
      const m = await measured('ivr', false);
      const dtmfHist = histDiff(histogram(m.before, 'pbx_dtmf_to_action_seconds'), histogram(m.after, 'pbx_dtmf_to_action_seconds'));
      const q50 = histQuantile(dtmfHist, 0.5);
      const q99 = histQuantile(dtmfHist, 0.99);
      const NG = 'pbx_rtpengine_ng_request_duration_seconds';
      const ngLatency: Record<string, { count: number; p50BoundMs?: number; p99BoundMs?: number; meanMs: number }> = {};
      for (const command of labelValues(m.after, NG, 'command')) {
        const label = `command="${command}"`;
        const h = histDiff(histogram(m.before, NG, label), histogram(m.after, NG, label));
        if (h.count <= 0) continue;
        const a = histQuantile(h, 0.5);
        const b = histQuantile(h, 0.99);
        ngLatency[command] = { count: h.count, ...(a ? { p50BoundMs: a.bound * 1000 } : {}), ...(b ? { p99BoundMs: b.bound * 1000 } : {}), meanMs: round((h.sum / h.count) * 1000, 2) };
      }
      const idleLag = metric(m.before, 'nodejs_eventloop_lag_p99_seconds');
      const peakRssKB = Math.max(...m.samples.rss);
      const actionsSeen = [...m.run.calls.keys()].filter((id) => m.samples.reachedSecond.has(id)).length;

      // The same load again with the event stream read: the digit's way from sipp to the daemon's
      // `ivr.digits` event, per call.
      await sleep(2000);
      const e = await measured('ivr-events', true);
      const events = e.tap?.events ?? [];
      const byCall = new Map<string, DaemonEvent[]>();
      for (const ev of events) {
        if (!('callId' in ev)) continue;
        const list = byCall.get(ev.callId) ?? [];
        list.push(ev);
        byCall.set(ev.callId, list);
      }
      const digitToEvent: number[] = [];
      let actionsProven = 0;
      for (const [callId, c] of e.run.calls) {
        const evs = byCall.get(callId) ?? [];
        const digits = evs.find((x) => x.type === 'call.step' && x.step === 'ivr.digits');
        const second = evs.find((x) => x.type === 'call.step' && x.step === 'ivr:second');
        if (digits?.type === 'call.step' && digits.detail.digits === '1' && digits.detail.valid === true && second && second.seq > digits.seq) actionsProven++;
        if (digits && c.dtmf !== undefined) digitToEvent.push(digits.at - (c.dtmf + endOffset));
      }
      const daemonLog = read(n.daemon.logFile);
      ivr = {
        calls: m.c,
        actionsSeen,
        peakConcurrent: m.samples.peakLive,
        ...(m.inviteTo200 ? { inviteTo200Ms: m.inviteTo200 } : {}),
        dtmfToAction: {
          count: dtmfHist.count,
          ...(q50 ? { p50BoundMs: q50.bound * 1000 } : {}),
          ...(q99 ? { p99BoundMs: q99.bound * 1000, p99InterpolatedMs: round(q99.interpolated * 1000, 1) } : {}),
          ...(dtmfHist.count > 0 ? { meanMs: round((dtmfHist.sum / dtmfHist.count) * 1000, 2) } : {}),
        },
        eventLoopLagP99Ms: { ...(idleLag !== undefined ? { idle: round(idleLag * 1000, 2) } : {}), ...m.lag },
        ...(m.samples.lagMax.length ? { eventLoopLagMaxMs: round(Math.max(...m.samples.lagMax), 1) } : {}),
        ngLatency,
        memory: { idleRssMB: round(idleRssKB / 1024, 1), peakRssMB: round(peakRssKB / 1024, 1), perCallKB: round((peakRssKB - idleRssKB) / Math.max(1, m.samples.peakLive)) },
        cpu: m.cpuUse,
        ...m.dropped,
        wallS: round(m.wallS, 1),
        withEventStream: {
          calls: e.c,
          actionsProven,
          peakConcurrent: e.tap?.peak ?? 0,
          ...(e.inviteTo200 ? { inviteTo200Ms: e.inviteTo200 } : {}),
          ...(dist(digitToEvent) ? { sippDigitToEventMs: dist(digitToEvent)! } : {}),
          eventLoopLagP99Ms: e.lag,
          cpu: e.cpuUse,
          events: events.length,
        },
        daemonLogWarnings: daemonLog.split('\n').filter((l) => / (warn|error) /.test(l)).length,
      };
    }

    // ---- 2. Calls per second, extension to extension
    let cps: DaemonBenchResult['cps'];
    if (opts.parts.includes('cps')) {
      const uasPort = n.allocPorts();
      const uas = spawnSipp(sippCommand(deps, n, { name: 'uas-1002', scenario: 'uas-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: PHONE_IP, localPort: uasPort, mediaPort: n.allocPorts(4), args: [] }), n.work);
      await waitFor('the 1002 UAS to bind its port', () => boundLocalPorts().has(uasPort), 5000, 50);
      const reg = await runSipp({
        scenario: 'register.xml', target: `127.0.0.1:${n.ports.sip}`, workDir: n.work, name: 'register-1002', localIp: PHONE_IP, localPort: n.allocPorts(), timeoutSec: 10,
        service: '1002', auth: { user: '1002', password: 'secret-1002' }, keys: { contact_host: PHONE_IP, contact_port: uasPort, expires: 3600 },
      });
      if (reg.responses.filter((c) => c >= 200).at(-1) !== 200) throw new Error(`1002 did not register: responses ${reg.responses.join(' ')}`);
      let runs = 0;
      /** One sipp run of `calls` calls to `number` at `rate` calls/s with at most `limit` in flight. */
      const cpsRun = async (path: CpsFigures['path'], number: string, calls: number, rate: number, limit: number): Promise<CpsRun> => {
        await drained(n, path, log);
        await sleep(2000);
        const completed0 = metric(await scrape(), 'pbx_calls_total', 'state="completed"') ?? 0;
        const noAnswer0 = daemonNoAnswers(n);
        const meter = cpuMeter(n.daemon.pid);
        const watch = watchDrops(n);
        const run = await runUac(deps, n, {
          name: `cps-${path}-${++runs}`, scenario: 'uac-ext-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: PHONE_IP, localPort: n.allocPorts(), mediaPort: n.allocPorts(4),
          args: [
            '-s', number, '-au', '1001', '-ap', 'secret-1001', '-key', 'from_user', '1001',
            '-m', String(calls), '-r', String(rate), '-rp', '1000', '-l', String(limit),
            '-recv_timeout', '30000', '-timeout', `${Math.ceil(calls / Math.min(rate, 20) + 60)}s`, '-timeout_error',
          ],
        });
        const cpuUse = meter();
        const dropped = watch.stop();
        await drained(n, `${path} calls at ${rate} calls/s`, log);
        const completedByDaemon = (metric(await scrape(), 'pbx_calls_total', 'state="completed"') ?? 0) - completed0;
        const c = counts(run);
        const all = [...run.calls.values()];
        const invs = all.flatMap((x) => (x.inv === undefined ? [] : [x.inv]));
        const ends = all.flatMap((x) => (x.end === undefined ? [] : [x.end]));
        const wall = (Math.max(...ends) - Math.min(...invs)) / 1000;
        const pdd = dist(all.flatMap((x) => (x.inv !== undefined && x.ok !== undefined ? [x.ok - x.inv] : [])));
        if (c.failed) log(`    ${c.failed} failed calls:\n${describeRun(run)}`);
        return {
          calls: c, wallS: round(wall, 2), achievedCps: Number.isFinite(wall) && wall > 0 ? round(c.succeeded / wall, 1) : 0,
          startedCps: invs.length > 1 ? round((invs.length - 1) / ((Math.max(...invs) - Math.min(...invs)) / 1000), 1) : 0,
          ...(pdd ? { postDialDelayMs: pdd } : {}),
          ...(path === 'daemon' ? { completedByDaemon, daemonNoAnswer: daemonNoAnswers(n) - noAnswer0 } : {}),
          cpu: cpuUse,
          ...dropped,
        };
      };
      const cpsPath = async (path: CpsFigures['path'], number: string): Promise<CpsFigures> => {
        const warmRun = await cpsRun(path, number, 20, 20, 20);
        if (warmRun.calls.succeeded !== 20) throw new Error(`${path} warm-up: ${warmRun.calls.succeeded}/20 calls succeeded`);
        log(`  calls per second, ${path} (${number}): capacity, ${opts.cpsCalls} calls, -r ${opts.cpsRate} -l ${opts.cpsConcurrency}, held ${opts.cpsHoldMs} ms ...`);
        const capacity = await cpsRun(path, number, opts.cpsCalls, opts.cpsRate, opts.cpsConcurrency);
        log(`    ${capacity.calls.succeeded}/${capacity.calls.attempted} succeeded, ${capacity.achievedCps} calls/s, post-dial delay p99 ${capacity.postDialDelayMs?.p99 ?? '-'} ms`);
        // The overload leaves work behind (garbage, transactions in their wait timers): let it
        // settle, and warm up again, before the open-loop rates.
        await sleep(5000);
        await cpsRun(path, number, 20, 20, 20);
        // Open loop: a search for the highest rate sustained, from half the capacity, up 1.5x while it
        // holds, then bisecting between the best rate sustained and the lowest one not sustained.
        const steps: CpsFigures['steps'] = [];
        let lo = 0;
        let hi = Infinity;
        let rate = Math.max(5, Math.round(capacity.achievedCps / 2));
        for (let i = 0; i < SUSTAIN_MAX_STEPS && rate > lo && rate < hi; i++) {
          const r = await cpsRun(path, number, Math.max(100, rate * SUSTAIN_STEP_S), rate, 5000);
          const pass = r.calls.failed === 0 && r.startedCps >= 0.9 * rate && (r.postDialDelayMs?.p99 ?? Infinity) < SUSTAIN_PDD_P99_MS;
          steps.push({ ...r, offeredCps: rate, pass });
          log(`    open loop at ${rate} calls/s: ${r.calls.succeeded}/${r.calls.attempted} succeeded, post-dial delay p99 ${r.postDialDelayMs?.p99 ?? '-'} ms, sipp retransmissions ${r.calls.sippRetransmissions ?? '-'} -> ${pass ? 'sustained' : 'not sustained'}`);
          if (pass) lo = rate;
          else hi = rate;
          if (Number.isFinite(hi) && (hi - lo) / hi <= SUSTAIN_PRECISION) break;
          rate = Math.round(Number.isFinite(hi) ? (lo + hi) / 2 : rate * 1.5);
        }
        return { path, number, capacity, steps, sustainableCps: lo };
      };
      const direct = await cpsPath('direct', '1002');
      const viaDaemon = await cpsPath('daemon', SOLO_NUMBER);
      uas.child.kill('SIGTERM');
      await uas.done;
      const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 2) : 0);
      cps = {
        direct,
        daemon: viaDaemon,
        capacityRatio: ratio(viaDaemon.capacity.achievedCps, direct.capacity.achievedCps),
        sustainableRatio: ratio(viaDaemon.sustainableCps, direct.sustainableCps),
      };
    }

    const rpc = kamailioRpc({ port: n.ports.rpc, timeoutMs: 2000 });
    const shm = await rpc.call<{ total?: number; max_used?: number }>('core.shmmem', ['m']).catch(() => undefined);
    rpc.close();
    const kamailioShm = typeof shm?.total === 'number' && typeof shm.max_used === 'number' ? { totalMB: shm.total, maxUsedMB: shm.max_used } : undefined;
    const kamailioShmErrors = read(join(n.root, 'log', 'kamailio.log')).split('\n').filter((l) => /could not allocate shared memory|cannot allocate shmem|no more (shm|shared)|out of shm/i.test(l)).length;

    await n.stop();
    node = undefined;
    let profileFile: string | undefined;
    if (deps.profileDir) {
      const dir = deps.profileDir;
      profileFile = readdirSync(dir).map((f) => join(dir, f)).filter((f) => f.endsWith('.cpuprofile') && statSync(f).mtimeMs >= startedAt).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (!profileFile) log('  no daemon CPU profile was written (did it exit cleanly on SIGTERM?)');
    }
    return {
      date: new Date().toISOString(),
      targets: DAEMON_TARGETS,
      options: opts,
      portBase: n.ports.base,
      daemonCommand: n.daemonCommand.map((a) => (a.startsWith(n.root) ? a.replace(n.root, 'ROOT') : a)).join(' '),
      greetingMs: n.greetingMs,
      digitAfterMs,
      otherActivity: others,
      ...(ivr ? { ivr } : {}),
      ...(cps ? { cps } : {}),
      stuckCalls,
      ...(kamailioShm ? { kamailioShm } : {}),
      kamailioShmErrors,
      ...(profileFile ? { profileFile } : {}),
    };
  } finally {
    tap?.close();
    if (node) await node.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const ok = (b: boolean) => (b ? 'ok' : 'MISSED');
const dropsText = (d: Record<string, number>) => (Object.keys(d).length ? ` (${Object.entries(d).map(([k, v]) => `${k} ${v}`).join(', ')})` : '');

/** Whether each target is met (IVR part). */
export function daemonVerdicts(r: DaemonBenchResult): { name: string; target: string; value: string; met: boolean }[] {
  const t = r.targets;
  const i = r.ivr;
  if (!i) return [];
  return [
    { name: 'no failed IVR calls', target: '0 failed', value: `${i.calls.failed} failed of ${i.calls.attempted}`, met: i.calls.failed === 0 && i.calls.attempted === r.options.ivrCalls },
    { name: 'concurrent IVR calls in the daemon', target: `>= ${t.ivrConcurrent}`, value: String(i.peakConcurrent), met: i.peakConcurrent >= t.ivrConcurrent },
    { name: 'p99 INVITE->200', target: `< ${t.inviteTo200P99Ms} ms`, value: `${i.inviteTo200Ms?.p99 ?? '-'} ms`, met: (i.inviteTo200Ms?.p99 ?? Infinity) < t.inviteTo200P99Ms },
    { name: 'DTMF-to-action p99 (daemon histogram)', target: `< ${t.dtmfToActionP99Ms} ms`, value: `<= ${i.dtmfToAction.p99BoundMs ?? '-'} ms`, met: (i.dtmfToAction.p99BoundMs ?? Infinity) <= t.dtmfToActionP99Ms },
    { name: 'event-loop lag p99 (worst second)', target: `< ${t.eventLoopLagP99Ms} ms`, value: `${i.eventLoopLagP99Ms.maxOverScrapes ?? '-'} ms`, met: (i.eventLoopLagP99Ms.maxOverScrapes ?? Infinity) < t.eventLoopLagP99Ms },
  ];
}

/** The section's printout. */
export function daemonReport(r: DaemonBenchResult): string[] {
  const i = r.ivr;
  const d = (x: Dist | undefined) => (x ? `p50 ${x.p50} ms, p90 ${x.p90} ms, p99 ${x.p99} ms, max ${x.max} ms (n=${x.n})` : 'no samples');
  const lines = [`Feature daemon (node bin/pbxctl daemon; ports ${r.portBase}-${r.portBase + SPAN - 1}):`];
  if (i) {
    const w = i.withEventStream;
    const ng = Object.entries(i.ngLatency).map(([k, v]) => `${k} ${v.count}x p50 <= ${v.p50BoundMs ?? '-'} ms, p99 <= ${v.p99BoundMs ?? '-'} ms`).join('; ');
    lines.push(
      `  IVR: ${r.options.ivrCalls} calls, sipp -r ${r.options.ivrRate} -l ${r.options.ivrConcurrency}; greeting ${r.greetingMs} ms, digit 1 at ${r.digitAfterMs} ms, then 4.3 s of talk; ${i.wallS} s; nothing reads the event stream`,
      `    calls: ${i.calls.attempted} attempted, ${i.calls.succeeded} succeeded, ${i.calls.failed} failed (sipp: FailedCall ${i.calls.sippFailed ?? '-'}, ${i.calls.sippRetransmissions ?? '-'} retransmissions, exit ${i.calls.sippExitCode}); ${i.actionsSeen} seen at ivr:second in GET /v1/calls (the digit acted)`,
      `    peak concurrent calls in the daemon: ${i.peakConcurrent} (GET /v1/health every 250 ms)`,
      `    INVITE->200 at sipp: ${d(i.inviteTo200Ms)}`,
      `    DTMF-to-action (pbx_dtmf_to_action_seconds: the digit's end packet at the daemon -> the IVR acted on it): p50 <= ${i.dtmfToAction.p50BoundMs ?? '-'} ms, p99 <= ${i.dtmfToAction.p99BoundMs ?? '-'} ms (interpolated ${i.dtmfToAction.p99InterpolatedMs ?? '-'} ms), mean ${i.dtmfToAction.meanMs ?? '-'} ms, n=${i.dtmfToAction.count}`,
      `    event-loop lag p99 (nodejs_eventloop_lag_p99_seconds, per 1 s scrape, 10 ms sampling interval included): worst ${i.eventLoopLagP99Ms.maxOverScrapes ?? '-'} ms (${i.eventLoopLagP99Ms.stealInWorstSecond ?? '-'}% stolen that second), worst of the ${i.eventLoopLagP99Ms.calmSeconds ?? 0} seconds with < ${CALM_STEAL_PERCENT}% stolen ${i.eventLoopLagP99Ms.maxInCalmSeconds ?? '-'} ms, last ${i.eventLoopLagP99Ms.lastScrape ?? '-'} ms, idle ${i.eventLoopLagP99Ms.idle ?? '-'} ms (${i.eventLoopLagP99Ms.scrapes} scrapes); longest single delay ${i.eventLoopLagMaxMs ?? '-'} ms`,
      `    RTPengine NG round trips seen by the daemon: ${ng || '-'}`,
      `    daemon RSS: ${i.memory.idleRssMB} MB idle, ${i.memory.peakRssMB} MB at most -> ${i.memory.perCallKB} KB per call (upper bound: uncollected garbage counts)`,
      `    CPU over the run: daemon ${i.cpu.daemonPercentOfCore}% of one core; machine ${i.cpu.machineBusyPercent}% busy (sipp, Kamailio, RTPengine and the daemon share the cores), ${i.cpu.stealPercent}% stolen by the hypervisor; UDP datagrams dropped: ${i.udpDrops}${dropsText(i.udpDropsBySocket)}${i.daemonLogWarnings ? `; ${i.daemonLogWarnings} warn/error lines in the daemon log` : ''}`,
      `  IVR again, the bench reading GET /v1/events (${w.events} events): ${w.calls.succeeded}/${w.calls.attempted} succeeded; digit acted on (ivr.digits 1 -> ivr:second) in ${w.actionsProven}; peak ${w.peakConcurrent} calls (started - ended)`,
      `    digit's end packet sent by sipp -> ivr.digits event: ${d(w.sippDigitToEventMs)}`,
      `    INVITE->200 ${d(w.inviteTo200Ms)}; event-loop lag p99 worst ${w.eventLoopLagP99Ms.maxOverScrapes ?? '-'} ms (${w.eventLoopLagP99Ms.stealInWorstSecond ?? '-'}% stolen that second); daemon ${w.cpu.daemonPercentOfCore}% of one core, ${w.cpu.stealPercent}% stolen`,
    );
  }
  const run = (x: CpsRun) =>
    `${x.calls.succeeded}/${x.calls.attempted} succeeded, ${x.calls.failed} failed (sipp: FailedCall ${x.calls.sippFailed ?? '-'}, ${x.calls.sippRetransmissions ?? '-'} retransmissions); post-dial delay p50 ${x.postDialDelayMs?.p50 ?? '-'} ms, p99 ${x.postDialDelayMs?.p99 ?? '-'} ms; CPU: daemon ${x.cpu.daemonPercentOfCore}% of one core, machine ${x.cpu.machineBusyPercent}% busy, ${x.cpu.stealPercent}% stolen; UDP dropped ${x.udpDrops}${dropsText(x.udpDropsBySocket)}${x.completedByDaemon !== undefined ? `; ${x.completedByDaemon} completed by the daemon` : ''}${x.daemonNoAnswer ? `; ${x.daemonNoAnswer} INVITEs the daemon did not answer within 3 s (Kamailio: 503)` : ''}`;
  const path = (f: CpsFigures) => {
    const title = f.path === 'direct' ? '1001 -> 1002 directly (Kamailio only)' : `1001 -> ${f.number}, ring group -> 1002 (Kamailio -> daemon -> Kamailio)`;
    const sustained = f.steps.find((s) => s.pass && s.offeredCps === f.sustainableCps);
    const failedStep = f.steps.filter((s) => !s.pass).sort((a, b) => a.offeredCps - b.offeredCps)[0];
    return [
      `    ${title}:`,
      `      capacity ${f.capacity.achievedCps} calls/s (closed loop, ${r.options.cpsConcurrency} in flight, ${f.capacity.wallS} s): ${run(f.capacity)}`,
      `      sustained ${failedStep ? '' : 'at least '}${f.sustainableCps} calls/s (open loop, ${SUSTAIN_STEP_S} s per rate; tried ${f.steps.map((s) => `${s.offeredCps}${s.pass ? '' : ' (not sustained)'}`).join(', ')})${sustained ? `: ${run(sustained)}` : ''}`,
      ...(failedStep ? [`      not sustained at ${failedStep.offeredCps} calls/s: ${run(failedStep)}`] : []),
    ];
  };
  const c = r.cps;
  if (c) {
    lines.push(
      `  Calls per second, extension to extension (digest auth, no RTP, calls held ${r.options.cpsHoldMs} ms; sustained = no failed call and p99 post-dial delay < ${SUSTAIN_PDD_P99_MS} ms):`,
      ...path(c.direct),
      ...path(c.daemon),
      `    ratio daemon hop / direct: ${c.sustainableRatio} sustained (${c.daemon.sustainableCps} vs ${c.direct.sustainableCps} calls/s), ${c.capacityRatio} at capacity (${c.daemon.capacity.achievedCps} vs ${c.direct.capacity.achievedCps} calls/s)`,
    );
  }
  lines.push(
    `  Kamailio shared memory: ${r.kamailioShm ? `${r.kamailioShm.maxUsedMB} MB used at most of ${r.kamailioShm.totalMB} MB` : 'unknown'}${r.kamailioShmErrors ? `; WARNING: ${r.kamailioShmErrors} log lines about running out of it` : ''}${r.stuckCalls ? `; WARNING: ${r.stuckCalls} daemon calls never ended (BYE lost) and were hung up through the API` : ''}`,
    ...(i ? ['  Targets:', ...daemonVerdicts(r).map((v) => `    ${v.name}: ${v.value} (target ${v.target}) ${ok(v.met)}`)] : []),
  );
  if (r.otherActivity.length) lines.push(`  NOTE: ${r.otherActivity.length} other vitest/sipp processes were running when the section started; the figures are skewed.`);
  return lines;
}
