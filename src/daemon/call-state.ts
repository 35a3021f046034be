/**
 * The state machine of one call as the feature daemon sees it, explicit and checked: every
 * transition is in TRANSITIONS or it is a bug (IllegalCallTransition). The states are the ones
 * operators, CDRs and webhooks use:
 *
 *   initiated ──► ringing ──► answered ──► completed
 *       │            │            └──────► failed
 *       └────────────┴──► failed | busy | no-answer | canceled
 *
 * `initiated`: INVITE received. `ringing`: 180 sent to the caller (a destination is being rung).
 * `answered`: 2xx sent to the caller (by the daemon itself, e.g. an IVR, or on behalf of a bridged
 * callee). Final states: `completed` (answered, then BYE from either side), `failed` (error; also an
 * answered call torn down by a fault), `busy` (486/600 everywhere), `no-answer` (timeouts),
 * `canceled` (the caller hung up before the answer, RFC 3261 §9).
 */

export type CallState = 'initiated' | 'ringing' | 'answered' | 'completed' | 'failed' | 'busy' | 'no-answer' | 'canceled';

/** States after which nothing happens to the call any more. */
export const FINAL_CALL_STATES: ReadonlySet<CallState> = new Set(['completed', 'failed', 'busy', 'no-answer', 'canceled']);

const TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  initiated: ['ringing', 'answered', 'failed', 'busy', 'no-answer', 'canceled'],
  ringing: ['answered', 'failed', 'busy', 'no-answer', 'canceled'],
  answered: ['completed', 'failed'],
  completed: [],
  failed: [],
  busy: [],
  'no-answer': [],
  canceled: [],
};

/** A transition the machine does not allow: always a bug in the caller, never user input. */
export class IllegalCallTransition extends Error {
  constructor(
    readonly from: CallState,
    readonly to: CallState,
  ) {
    super(`illegal call state transition ${from} -> ${to}`);
    this.name = 'IllegalCallTransition';
  }
}

/** One entry of a call's history: the state entered and when (ms since the epoch). */
export interface CallStateChange {
  state: CallState;
  at: number;
  /** Why, for final states: e.g. `486 Busy Here`, `caller hung up`. */
  reason?: string;
}

/**
 * The state of one call with its history. `onChange` listeners run synchronously after each
 * transition, in registration order; a throwing listener does not undo the transition.
 */
export class CallStateMachine {
  private current: CallState = 'initiated';
  readonly history: CallStateChange[];
  private readonly listeners: ((change: CallStateChange, from: CallState) => void)[] = [];

  /** @param now clock in ms since the epoch (injected for tests) */
  constructor(private readonly now: () => number = Date.now) {
    this.history = [{ state: 'initiated', at: now() }];
  }

  get state(): CallState {
    return this.current;
  }

  get isFinal(): boolean {
    return FINAL_CALL_STATES.has(this.current);
  }

  /** Whether `to` is allowed from the current state. */
  can(to: CallState): boolean {
    return TRANSITIONS[this.current].includes(to);
  }

  /**
   * Moves to `to`.
   * @throws IllegalCallTransition when the transition is not allowed (a bug)
   */
  transition(to: CallState, reason?: string): CallStateChange {
    if (!this.can(to)) throw new IllegalCallTransition(this.current, to);
    const from = this.current;
    this.current = to;
    const change: CallStateChange = reason === undefined ? { state: to, at: this.now() } : { state: to, at: this.now(), reason };
    this.history.push(change);
    for (const l of this.listeners) {
      try {
        l(change, from);
      } catch {
        // A broken listener (metrics, event stream) must not break call handling.
      }
    }
    return change;
  }

  /**
   * Ends the call in the final state that fits how far it got: `completed` once answered,
   * otherwise `unanswered` (default `failed`). A no-op when the call already ended.
   */
  finish(unanswered: Exclude<CallState, 'initiated' | 'ringing' | 'answered' | 'completed'> = 'failed', reason?: string): void {
    if (this.isFinal) return;
    this.transition(this.current === 'answered' ? 'completed' : unanswered, reason);
  }

  /** Time the call was answered (ms since the epoch), if it was. */
  get answeredAt(): number | undefined {
    return this.history.find((h) => h.state === 'answered')?.at;
  }

  onChange(listener: (change: CallStateChange, from: CallState) => void): void {
    this.listeners.push(listener);
  }
}
