/**
 * Which extensions are on a daemon call right now, from the daemon's own events: the caller of a
 * call (`call.started` caller number) and the callee a call is bridged to (`call.step` `bridged`
 * with `to`), until `bridge.ended` / `call.ended`. QueueManager asks it so that an agent on any
 * other daemon call (an IVR, a ring group, a call the agent made) is not offered a queue caller.
 * Calls Kamailio routes without the daemon are caught by the offer itself (486 Busy Here).
 */
import type { DaemonEvent, EventBus } from '../events.js';

/** Tracks busy extensions; `onChange` fires when an extension becomes free (so queues can re-offer). */
export class ExtensionActivity {
  /** callId -> extensions on that call. */
  private readonly calls = new Map<string, Set<string>>();
  private readonly unsubscribe: () => void;

  constructor(events: EventBus, private readonly onFree: () => void = () => undefined) {
    this.unsubscribe = events.subscribe((e) => this.on(e)).unsubscribe;
  }

  private on(e: DaemonEvent): void {
    switch (e.type) {
      case 'call.started':
        this.add(e.callId, e.caller.number);
        break;
      case 'call.step':
        if (e.step === 'bridged' && typeof e.detail.to === 'string') this.add(e.callId, e.detail.to);
        else if (e.step === 'bridge.ended') {
          const exts = this.calls.get(e.callId);
          // The caller stays on the call (it may go on to another feature); callees leave.
          if (exts && exts.size > 1) {
            const [caller] = exts;
            this.calls.set(e.callId, new Set(caller === undefined ? [] : [caller]));
            this.onFree();
          }
        }
        break;
      case 'call.ended':
        if (this.calls.delete(e.callId)) this.onFree();
        break;
      default:
        break;
    }
  }

  private add(callId: string, ext: string): void {
    let s = this.calls.get(callId);
    if (!s) this.calls.set(callId, (s = new Set()));
    s.add(ext);
  }

  /** Whether `ext` is on some daemon call other than `exceptCallId`. */
  isBusy(ext: string, exceptCallId?: string): boolean {
    for (const [callId, exts] of this.calls) if (callId !== exceptCallId && exts.has(ext)) return true;
    return false;
  }

  close(): void {
    this.unsubscribe();
  }
}
