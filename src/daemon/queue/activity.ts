/**
 * Which extensions are on a call right now, so that QueueManager never offers a queue caller to an
 * agent who is talking (Asterisk's `ringinuse=no`), from two sources on the event bus:
 * - the daemon's own calls: the caller of a call (`call.started` caller number) and the callee a
 *   call is bridged to (`call.step` `bridged` with `to`), until `bridge.ended` / `call.ended`;
 * - Kamailio's dialogs (`dialog.*` from evapi, cdr/kamailio-events.ts): calls the daemon never
 *   sees, an extension-to-extension call or an agent's outside call. Caller (`from`) and target
 *   count from the first INVITE (a ringing phone is busy too) until `dialog.ended`; the target
 *   stops counting once Kamailio handed the call to the daemon (`feature`: a forward to voicemail
 *   after no answer). The daemon's own legs (`direction: daemon`) are left to the first source.
 * After a daemon restart the calls in progress come from the CDR module's restored open calls
 * (`seed`). A dialog whose end never arrived (events lost while Kamailio restarted) stops counting after
 * the dialog module's own timeout (`default_timeout`, 12 h); without evapi only the first source
 * and the offer itself (486 Busy Here) tell.
 */
import type { DaemonEvent, DialogEventFields, EventBus } from '../events.js';

/** Kamailio's dialog timeout (kamailio.cfg `modparam("dialog", "default_timeout", 43200)`), ms. */
export const KAMAILIO_DIALOG_TIMEOUT_MS = 43_200_000;

/** Tracks busy extensions; `onFree` fires when an extension becomes free (so queues can re-offer). */
export class ExtensionActivity {
  /** callId -> extensions on that daemon call. */
  private readonly calls = new Map<string, Set<string>>();
  /** Kamailio dialog Call-ID -> extensions on it and when it started (ms since the epoch). */
  private readonly dialogs = new Map<string, { exts: Set<string>; startedAt: number }>();
  private readonly unsubscribe: () => void;

  /** @param now clock for the stale-dialog cut-off, ms since the epoch */
  constructor(events: EventBus, private readonly onFree: () => void = () => undefined, private readonly now: () => number = Date.now) {
    this.unsubscribe = events.subscribe((e) => this.on(e)).unsubscribe;
  }

  /**
   * Adds Kamailio dialogs known before the first event, e.g. the calls in progress that the CDR
   * module restored at a daemon restart; a dialog already followed keeps what its events said.
   */
  seed(dialogs: readonly DialogEventFields[]): void {
    for (const d of dialogs) if (!this.dialogs.has(d.callId)) this.onDialog(d);
  }

  private onDialog(e: DialogEventFields): void {
    if (e.direction === 'daemon') return;
    const exts = new Set([e.from, ...(e.feature === undefined ? [e.target] : [])].filter((x) => x !== ''));
    const before = this.dialogs.get(e.callId);
    this.dialogs.set(e.callId, { exts, startedAt: e.startedAt });
    if (before && [...before.exts].some((x) => !exts.has(x))) this.onFree();
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
      case 'dialog.started':
      case 'dialog.answered':
        this.onDialog(e);
        break;
      case 'dialog.ended':
        if (this.dialogs.delete(e.callId)) this.onFree();
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

  /** Whether `ext` is on some call (daemon call or Kamailio dialog) other than `exceptCallId`. */
  isBusy(ext: string, exceptCallId?: string): boolean {
    for (const [callId, exts] of this.calls) if (callId !== exceptCallId && exts.has(ext)) return true;
    const cutoff = this.now() - KAMAILIO_DIALOG_TIMEOUT_MS;
    for (const [callId, d] of this.dialogs) {
      if (d.startedAt < cutoff) {
        this.dialogs.delete(callId);
        continue;
      }
      if (callId !== exceptCallId && d.exts.has(ext)) return true;
    }
    return false;
  }

  close(): void {
    this.unsubscribe();
  }
}
