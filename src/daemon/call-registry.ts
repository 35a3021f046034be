/**
 * The calls in progress in the daemon: each with its state machine, flow step, the config it
 * started on, and the controller that tears it down. Publishes call.started / call.state /
 * call.step / call.ended on the event bus, which the API streams to operators.
 */
import { CallStateMachine, type CallState } from './call-state.js';
import type { Party } from './channel.js';
import type { EventBus } from './events.js';
import type { LiveCall } from './api.js';

/** One call in the registry. */
export interface CallRecord {
  readonly callId: string;
  readonly caller: Party;
  readonly dialed: string;
  readonly destination: string;
  readonly trunk?: string;
  readonly configVersion: string;
  readonly state: CallStateMachine;
  readonly startedAt: number;
  step?: string;
  /** Aborting it tears the call down (API hangup, daemon shutdown). */
  readonly teardown: AbortController;
}

/** Registry of live calls; removes a call once it reaches a final state. */
export class CallRegistry {
  private readonly calls = new Map<string, CallRecord>();

  constructor(
    private readonly events: EventBus,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  get(callId: string): CallRecord | undefined {
    return this.calls.get(callId);
  }

  /**
   * Registers a new call and publishes call.started.
   * @throws Error when a call with this Call-ID is already live (the SIP layer must not deliver one twice)
   */
  start(o: { callId: string; caller: Party; dialed: string; destination: string; trunk?: string; configVersion: string }): CallRecord {
    if (this.calls.has(o.callId)) throw new Error(`call ${o.callId} is already live`);
    const record: CallRecord = { ...o, state: new CallStateMachine(this.now), startedAt: this.now(), teardown: new AbortController() };
    this.calls.set(o.callId, record);
    this.events.publish({ type: 'call.started', callId: o.callId, caller: o.caller, dialed: o.dialed, destination: o.destination, ...(o.trunk === undefined ? {} : { trunk: o.trunk }), configVersion: o.configVersion });
    record.state.onChange((change, from) => {
      this.events.publish({ type: 'call.state', callId: o.callId, state: change.state, from, ...(change.reason === undefined ? {} : { reason: change.reason }) });
      if (record.state.isFinal) this.end(record, change.state, change.reason);
    });
    return record;
  }

  /** Records the flow step (`ivr:main`, `dial`, `bridged`...) and publishes it. */
  step(record: CallRecord, step: string, detail: Record<string, string | number | boolean> = {}): void {
    record.step = step;
    this.events.publish({ type: 'call.step', callId: record.callId, step, detail });
  }

  private end(record: CallRecord, state: CallState, reason: string | undefined): void {
    this.calls.delete(record.callId);
    const end = this.now();
    const answeredAt = record.state.answeredAt;
    this.events.publish({
      type: 'call.ended',
      callId: record.callId,
      state,
      durationMs: end - record.startedAt,
      billableMs: answeredAt === undefined ? 0 : end - answeredAt,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  /** Snapshot for the API. */
  list(): LiveCall[] {
    return [...this.calls.values()].map((r) => ({
      callId: r.callId,
      caller: r.caller,
      dialed: r.dialed,
      destination: r.destination,
      ...(r.trunk === undefined ? {} : { trunk: r.trunk }),
      state: r.state.state,
      ...(r.step === undefined ? {} : { step: r.step }),
      startedAt: r.startedAt,
      ...(r.state.answeredAt === undefined ? {} : { answeredAt: r.state.answeredAt }),
      configVersion: r.configVersion,
    }));
  }

  /** Tears every call down (daemon shutdown); resolves when all reached a final state or after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    for (const r of this.calls.values()) r.teardown.abort(new Error('daemon shutting down'));
    const deadline = this.now() + graceMs;
    while (this.calls.size > 0 && this.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
