/**
 * SIP timer values (RFC 3261 §17 and Table 4 in Appendix A; Timers L and M from RFC 6026 §8.4) and
 * the injectable clock every SIP state machine uses, so unit tests can drive time by hand (vitest
 * fake timers, or {@link ManualClock}) while production uses the process's timers.
 *
 * All durations are milliseconds.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * The time source of the SIP layer. Implementations must never call `fn` synchronously from
 * `setTimeout`, and `clearTimeout` must accept a handle that already fired (a no-op).
 */
export interface Clock {
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Milliseconds since an arbitrary epoch (monotonic enough for measuring intervals). */
  now(): number;
}

/**
 * The process's timers. Looks `setTimeout` up on `globalThis` at each call, so vitest's fake timers
 * (installed after this module loaded) still take effect.
 */
export const systemClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};

/**
 * A clock that only moves when told to: `advance(ms)` fires every timer that falls due, in due-time
 * order (timers set by a firing timer fire too if they fall due within the advance).
 */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  now(): number {
    return this.time;
  }

  /** Timers still pending (for leak checks in tests). */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].due <= end && (next === undefined || entry[1].due < next[1].due)) next = entry;
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.time = next[1].due;
      next[1].fn();
    }
    this.time = end;
  }
}

/**
 * The three base values of RFC 3261 Table 4 (ms). T1 is the RTT estimate, T2 the cap on
 * retransmission intervals of non-INVITE requests and INVITE responses, T4 how long a message
 * may stay in the network.
 */
export interface TimerConfig {
  /** Default 500 ms. */
  t1: number;
  /** Default 4000 ms. */
  t2: number;
  /** Default 5000 ms. */
  t4: number;
}

/** RFC 3261 Table 4 defaults. */
export const DEFAULT_TIMER_CONFIG: Readonly<TimerConfig> = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

/** Every derived timer of RFC 3261 §17 (A-K) and RFC 6026 (L, M), in ms, for one transport kind. */
export interface TimerValues {
  t1: number;
  t2: number;
  t4: number;
  /** INVITE request retransmit interval, initially T1, doubles (unreliable transports only). §17.1.1.2 */
  A: number;
  /** INVITE transaction timeout: 64*T1. §17.1.1.2 */
  B: number;
  /** Wait time for response retransmits in INVITE client Completed: >32 s UDP, 0 reliable. §17.1.1.2 */
  D: number;
  /** Non-INVITE request retransmit interval, initially T1 (unreliable only). §17.1.2.2 */
  E: number;
  /** Non-INVITE transaction timeout: 64*T1. §17.1.2.2 */
  F: number;
  /** INVITE final response retransmit interval, initially T1 (unreliable only). §17.2.1 */
  G: number;
  /** Wait time for ACK receipt: 64*T1. §17.2.1 */
  H: number;
  /** Wait time for ACK retransmits in INVITE server Confirmed: T4 UDP, 0 reliable. §17.2.1 */
  I: number;
  /** Wait time for non-INVITE request retransmits: 64*T1 UDP, 0 reliable. §17.2.2 */
  J: number;
  /** Wait time for response retransmits in non-INVITE client Completed: T4 UDP, 0 reliable. §17.1.2.2 */
  K: number;
  /** INVITE server Accepted state: wait for INVITE retransmissions after a 2xx, 64*T1. RFC 6026 §8.7 */
  L: number;
  /** INVITE client Accepted state: wait for 2xx retransmissions, 64*T1. RFC 6026 §8.4 */
  M: number;
}

/**
 * Derives the §17 timers for a transport. `reliable` (TCP) zeroes the "wait for retransmissions"
 * timers D, I, J, K because a reliable transport never duplicates messages (§17.1.1.2, §17.2.1).
 * Timer D is 32 s over UDP (the RFC minimum), independent of T1, as Table 4 specifies.
 *
 * @throws Error (a bug) when a base value is not a positive finite number or T2 < T1.
 */
export function timerValues(config: Partial<TimerConfig> = {}, reliable = false): TimerValues {
  const { t1, t2, t4 } = { ...DEFAULT_TIMER_CONFIG, ...config };
  for (const [name, v] of [['t1', t1], ['t2', t2], ['t4', t4]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`timer ${name} must be a positive number of ms, got ${v}`);
  }
  if (t2 < t1) throw new Error(`timer T2 (${t2} ms) must not be below T1 (${t1} ms)`);
  const t64 = 64 * t1;
  return {
    t1,
    t2,
    t4,
    A: t1,
    B: t64,
    D: reliable ? 0 : 32_000,
    E: t1,
    F: t64,
    G: t1,
    H: t64,
    I: reliable ? 0 : t4,
    J: reliable ? 0 : t64,
    K: reliable ? 0 : t4,
    L: t64,
    M: t64,
  };
}

/**
 * Named one-shot timers owned by one state machine, so it can cancel all of them when it ends and
 * leak nothing. Setting a name that is already running replaces it.
 */
export class TimerSet {
  private readonly handles = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  /** Starts (or restarts) timer `name` to call `fn` after `ms`. */
  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    const handle = this.clock.setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms);
    this.handles.set(name, handle);
  }

  /** Stops timer `name` if it is running. */
  clear(name: string): void {
    const handle = this.handles.get(name);
    if (handle !== undefined) {
      this.clock.clearTimeout(handle);
      this.handles.delete(name);
    }
  }

  /** True while timer `name` is running. */
  has(name: string): boolean {
    return this.handles.has(name);
  }

  /** Stops every timer of this set. */
  clearAll(): void {
    for (const handle of this.handles.values()) this.clock.clearTimeout(handle);
    this.handles.clear();
  }

  /** Number of running timers (for leak checks). */
  get size(): number {
    return this.handles.size;
  }
}
