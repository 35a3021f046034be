/** What the daemon section measures and its options and targets (bench/daemon/bench.ts runs it). */

/** A rate counts as sustained when no call fails and the p99 post-dial delay stays under this. */
export const SUSTAIN_PDD_P99_MS = 200;
/** Seconds of calls at each rate of the sustained-rate search. */
export const SUSTAIN_STEP_S = 5;
/** At most this many rates are tried. */
export const SUSTAIN_MAX_STEPS = 6;
/** The search stops when the lowest rate not sustained is within 10% of the highest sustained. */
export const SUSTAIN_PRECISION = 0.1;

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

export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface CallCounts {
  attempted: number;
  succeeded: number;
  failed: number;
  /** sipp's FailedCall(C) and Retransmissions(C) from its statistics file. */
  sippFailed?: number;
  sippRetransmissions?: number;
  sippExitCode: number | null;
}

export interface LagFigures {
  maxOverScrapes?: number;
  stealInWorstSecond?: number;
  maxInCalmSeconds?: number;
  calmSeconds?: number;
  lastScrape?: number;
  scrapes: number;
}

/** A second counts as calm when the hypervisor stole less than this share of the machine's CPU time, %. */
export const CALM_STEAL_PERCENT = 5;

/** CPU over a run: the daemon's (% of one core) and the machine's (busy and stolen, % of all its CPU time). */
export interface CpuUse {
  daemonPercentOfCore: number;
  machineBusyPercent: number;
  stealPercent: number;
}

export interface UdpDrops {
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
  /** Calls still up in the daemon after their run and the keepalive grace, hung up through the API (lost BYEs). */
  stuckCalls: number;
  /** Calls still up 30 s after a run (BYE lost) that the daemon's OPTIONS keepalive ended by itself. */
  keepaliveEndedCalls: number;
  /** Kamailio's shared memory at the end: size and high-water mark, MB (core.shmmem). */
  kamailioShm?: { totalMB: number; maxUsedMB: number };
  /** Lines of kamailio.log about shared memory running out. */
  kamailioShmErrors: number;
  profileFile?: string;
}
