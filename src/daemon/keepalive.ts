/**
 * In-dialog OPTIONS keepalive for the daemon's confirmed call legs: how the B2BUA notices a peer
 * that vanished without a BYE (a phone that lost power, a caller whose BYE was lost under load).
 *
 * Every `intervalMs` the daemon sends OPTIONS inside each confirmed dialog (caller leg and every
 * answered callee leg). RFC 5057 §5.1: an in-dialog OPTIONS tests the dialog; any final response
 * other than 481 (Call/Transaction Does Not Exist) or 408 (Request Timeout), including 405/501,
 * proves the dialog is alive. A 481/408 or a transaction timeout (Timer F, 64*T1) ends the usage
 * (RFC 3261 §12.2.1.2) — Session.transact() already does that and emits `terminated`, which the
 * channel turns into "caller hung up" / "callee hung up": the call flow ends, the other leg gets
 * its BYE and the RTPengine session is deleted (SipCallChannel.hangup → MediaSession.destroy).
 *
 * Behind Kamailio a dead phone shows up as Kamailio's own 408 once tm's fr_timer (5 s in the
 * shipped kamailio.cfg) expires, so a dead call ends at most `intervalMs` + ~5 s after the peer
 * died. RFC 4028 session timers were not chosen: they need the peer's support (Supported: timer)
 * and re-INVITE/UPDATE refreshes through RTPengine; OPTIONS works with every UA.
 */
import type { Clock, TimerHandle } from '../sip/timers.js';

/** The part of a Session (src/sip/ua-session.ts) the keepalive needs. */
export interface KeepaliveSession {
  /** `confirmed` or `terminated`. */
  readonly state: string;
  /** Sends an in-dialog request; resolves with the final response. 408/481/timeout end the session. */
  request(method: 'OPTIONS'): Promise<{ status: number }>;
  on(event: 'terminated', listener: (reason: unknown) => void): unknown;
  off(event: 'terminated', listener: (reason: unknown) => void): unknown;
}

/** What the keepalive found. `alive`: any final response but 408/481; `dead`: 408/481/timeout/transport error. */
export type KeepaliveResult = 'alive' | 'dead';

/** Options of {@link startKeepalive}. */
export interface KeepaliveOptions {
  /** Time between the end of one probe and the next OPTIONS, ms (> 0). */
  intervalMs: number;
  clock: Clock;
  /** Told after each probe (metrics, logs). */
  onProbe?: (result: KeepaliveResult, status: number | undefined) => void;
  /**
   * Called once when a probe shows the dialog dead. The Session has normally ended itself by then
   * (§12.2.1.2); this is the hook to make sure (e.g. send BYE when it has not).
   */
  onDead?: (status: number | undefined) => void;
}

/** A running keepalive; stops by itself when the session ends. */
export interface Keepalive {
  /** Stops probing (idempotent). */
  stop(): void;
}

/**
 * Starts probing `session` with OPTIONS every `intervalMs` (the first probe one interval from
 * now). One probe at a time: the next interval starts when the previous probe has a final answer.
 * Stops when the session ends, on `stop()`, or after a probe finds the dialog dead.
 * @throws RangeError when intervalMs is not a positive finite number
 */
export function startKeepalive(session: KeepaliveSession, o: KeepaliveOptions): Keepalive {
  if (!Number.isFinite(o.intervalMs) || o.intervalMs <= 0) throw new RangeError(`keepalive interval must be > 0 ms, got ${o.intervalMs}`);
  let stopped = false;
  let probing = false;
  let timer: TimerHandle | undefined;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (timer !== undefined) o.clock.clearTimeout(timer);
    timer = undefined;
    session.off('terminated', onTerminated);
  };
  // Session.transact() ends the session on 408/481/timeout *before* the probe's promise settles:
  // a probe in flight still reports its result; otherwise the session ended (BYE), nothing to do.
  let endedDuringProbe = false;
  const onTerminated = (): void => {
    if (probing) endedDuringProbe = true;
    else stop();
  };
  const dead = (status: number | undefined): void => {
    o.onProbe?.('dead', status);
    stop();
    o.onDead?.(status);
  };
  const probe = async (): Promise<void> => {
    timer = undefined;
    if (stopped || session.state === 'terminated') return stop();
    let status: number | undefined;
    probing = true;
    try {
      status = (await session.request('OPTIONS')).status;
    } catch (e) {
      // TIMEOUT/TRANSPORT: the dialog is lost. TERMINATED/CLOSED: it ended meanwhile.
      if (stopped) return;
      const code = (e as { code?: unknown }).code;
      if (code === 'TERMINATED' || code === 'CLOSED') return stop();
      return dead((e as { status?: number }).status ?? 408);
    } finally {
      probing = false;
    }
    if (stopped) return;
    if (status === 408 || status === 481) return dead(status);
    // Any other answer: alive (RFC 5057 §5.1), unless the session ended meanwhile (a BYE crossed it).
    if (endedDuringProbe || session.state === 'terminated') return stop();
    o.onProbe?.('alive', status);
    schedule();
  };
  const schedule = (): void => {
    timer = o.clock.setTimeout(() => void probe(), o.intervalMs);
  };
  session.on('terminated', onTerminated);
  if (session.state === 'terminated') stop();
  else schedule();
  return { stop };
}
