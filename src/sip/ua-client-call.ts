/**
 * An outgoing call (RFC 3261 §13.2, the UAC side of an INVITE) until it is answered or fails.
 * Provisional responses are reported with their early dialog's SDP; the first 2xx confirms the
 * dialog, is ACKed by the core (§13.2.2.4; retransmitted 2xx are ACKed again) and yields a
 * {@link Session}; any further 2xx from another fork, or a 2xx that crosses our CANCEL, is ACKed
 * and BYEd at once. `cancel()` sends CANCEL only once a provisional arrived (§9.1), and gives up
 * 64*T1 after it if no final response comes.
 */
import { EventEmitter } from 'node:events';
import type { SipRequest, SipResponse } from './message.js';
import { getHeader } from './headers.js';
import { Dialog, tagOf } from './dialog.js';
import { buildCancel, type InviteClientTransaction } from './transaction-client.js';
import { cseqOf } from './transaction.js';
import { TimerSet } from './timers.js';
import { Session } from './ua-session.js';
import { SipError, sdpOf, type UaCore } from './ua-core.js';

/** Where an outgoing call is; every transition is checked. */
export enum ClientCallState {
  /** INVITE sent, no provisional yet. */
  Calling = 'calling',
  /** A provisional arrived (ringing / early media). */
  Proceeding = 'proceeding',
  /** cancel() was called: CANCEL sent, or pending until the first provisional (§9.1). */
  Cancelling = 'cancelling',
  /** A 2xx arrived and was ACKed: the Session carries on. */
  Answered = 'answered',
  Failed = 'failed',
}

const S = ClientCallState;
const TRANSITIONS: ReadonlyMap<ClientCallState, readonly ClientCallState[]> = new Map([
  [S.Calling, [S.Proceeding, S.Cancelling, S.Answered, S.Failed]],
  [S.Proceeding, [S.Cancelling, S.Answered, S.Failed]],
  [S.Cancelling, [S.Failed]],
]);

/** Events of {@link ClientCall}. */
export interface ClientCallEvents {
  /** Every provisional response (100 included); `sdp` is its early-media SDP (183), if any. */
  progress: [response: SipResponse, sdp: string | undefined];
  /** The first 2xx, ACKed; the call is now a Session. */
  answered: [session: Session];
  /** Rejected (`REJECTED` + status), `CANCELLED`, `TIMEOUT` (timeoutMs: status 408), `TRANSPORT`, `CLOSED`. */
  failed: [error: SipError];
}

/** One outgoing INVITE, created by `UserAgent.invite`. */
export class ClientCall extends EventEmitter<ClientCallEvents> {
  /** The INVITE as sent (with our Via). */
  readonly request: SipRequest;
  readonly callId: string;
  private current = S.Calling;
  private tx: InviteClientTransaction | undefined;
  private readonly timers: TimerSet;
  private readonly early = new Map<string, Dialog>();
  private readonly acks = new Map<string, SipRequest>();
  private readonly seq: number;
  private cancelSent = false;
  private cancelledByTimeout = false;
  private pendingCancelReason: string | undefined;
  private session: Session | undefined;
  private error: SipError | undefined;

  /** @internal Built and started by the UserAgent. */
  constructor(
    private readonly core: UaCore,
    invite: SipRequest,
    private readonly localSdp: string | undefined,
    timeoutMs: number | undefined,
  ) {
    super();
    this.request = invite;
    this.callId = getHeader(invite, 'Call-ID') ?? '';
    this.seq = cseqOf(invite)?.seq ?? 1;
    this.timers = new TimerSet(core.clock);
    const tx = core.sendRequest(invite) as InviteClientTransaction;
    this.tx = tx;
    tx.on('response', (response) => this.onResponse(response));
    tx.once('timeout', () =>
      // Timer B: nothing at all came back. A call cancelled meanwhile still reports the cancel.
      this.fail(this.current === S.Cancelling ? this.cancelError() : new SipError('TIMEOUT', 'no response to the INVITE (Timer B)', 408)),
    );
    tx.once('transportError', (err) => this.fail(new SipError('TRANSPORT', `INVITE could not be sent: ${err.message}`, 503)));
    tx.once('terminated', (reason) => {
      this.tx = undefined;
      if (reason === 'aborted') this.fail(new SipError('CLOSED', 'the INVITE transaction was aborted'));
    });
    if (timeoutMs !== undefined) {
      this.timers.set('timeout', timeoutMs, () => {
        this.cancelledByTimeout = true;
        this.cancel('SIP;cause=408;text="Timeout"');
      });
    }
  }

  /** Where the call is (see {@link ClientCallState}). */
  get state(): ClientCallState {
    return this.current;
  }

  /**
   * Resolves with the Session when the call is answered, rejects with the failure's SipError.
   * Only call it when you will handle the rejection (the events work without it).
   */
  result(): Promise<Session> {
    if (this.session !== undefined) return Promise.resolve(this.session);
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      const onAnswered = (session: Session): void => {
        this.off('failed', onFailed);
        resolve(session);
      };
      const onFailed = (err: SipError): void => {
        this.off('answered', onAnswered);
        reject(err);
      };
      this.once('answered', onAnswered);
      this.once('failed', onFailed);
    });
  }

  /**
   * Cancels the call (§9.1). Before any provisional the CANCEL waits for one (a proxy may not have
   * the transaction yet); after a final response this does nothing. `reason` is an RFC 3326 Reason
   * header value. The call then fails with `CANCELLED` (status 487), or `TIMEOUT` (408) when its
   * own `timeoutMs` fired.
   */
  cancel(reason?: string): void {
    if (this.current !== S.Calling && this.current !== S.Proceeding) return;
    const hadProvisional = this.current === S.Proceeding;
    this.transition(S.Cancelling);
    this.timers.clear('timeout');
    if (hadProvisional) this.sendCancel(reason);
    else this.pendingCancelReason = reason;
  }

  /** @internal UA close: CANCEL if ringing, then fail with CLOSED. */
  shutdown(): void {
    if (this.current === S.Proceeding) this.sendCancel();
    this.fail(new SipError('CLOSED', 'the user agent closed'));
  }

  private onResponse(response: SipResponse): void {
    if (response.status < 200) return this.onProvisional(response);
    if (response.status < 300) return this.onSuccess(response);
    if (this.current === S.Answered || this.current === S.Failed) return;
    if (this.current === S.Cancelling) return this.fail(this.cancelError(response));
    this.fail(new SipError('REJECTED', `INVITE rejected: ${response.status} ${response.reason}`, response.status, response));
  }

  private onProvisional(response: SipResponse): void {
    if (this.current === S.Calling) this.transition(S.Proceeding);
    if (this.current === S.Cancelling && !this.cancelSent) this.sendCancel(this.pendingCancelReason);
    if (this.current !== S.Proceeding) return;
    const tag = tagOf(response, 'To');
    if (tag !== undefined && !this.early.has(tag)) {
      try {
        this.early.set(tag, Dialog.fromUacResponse(this.request, response, this.core.contact));
      } catch {
        // A provisional without Contact makes no usable early dialog; the 2xx will carry one.
      }
    }
    this.emit('progress', response, sdpOf(response));
  }

  private onSuccess(response: SipResponse): void {
    const tag = tagOf(response, 'To') ?? '';
    const ack = this.acks.get(tag);
    if (ack !== undefined) {
      this.core.sendAck(ack); // a retransmitted 2xx: our ACK was lost (§13.2.2.4)
      return;
    }
    let dialog: Dialog;
    try {
      const early = this.early.get(tag);
      if (early !== undefined) {
        early.confirm(response);
        dialog = early;
      } else {
        dialog = Dialog.fromUacResponse(this.request, response, this.core.contact);
      }
    } catch (err) {
      // No To tag or Contact: we cannot even address an ACK. Treat as a failure of the call.
      this.core.logger.warn('2xx to INVITE without To tag or Contact', { callId: this.callId, error: String(err) });
      this.fail(new SipError('REJECTED', '2xx without To tag or Contact', 502, response));
      return;
    }
    const newAck = dialog.createRequest('ACK', { cseq: this.seq });
    this.acks.set(tag, newAck);
    this.core.sendAck(newAck);
    const session = new Session(this.core, dialog, { local: this.localSdp, remote: sdpOf(response) }, { cseq: this.seq, ack: newAck });
    if (this.current === S.Calling || this.current === S.Proceeding) {
      this.transition(S.Answered);
      this.session = session;
      this.finish();
      this.emit('answered', session);
      return;
    }
    // Another fork's 2xx, or a 2xx that crossed our CANCEL: ACK it (done) and hang it up (§15).
    void session.bye();
    if (this.current === S.Cancelling) this.fail(this.cancelError(response));
  }

  private sendCancel(reason?: string): void {
    if (this.cancelSent || this.tx === undefined) return;
    this.cancelSent = true;
    const cancelTx = this.core.sendRequest(buildCancel(this.tx.request, reason), { keepVia: true });
    cancelTx.on('response', (r) => this.core.logger.debug('CANCEL answered', { callId: this.callId, status: r.status }));
    // §9.1: without a final response 64*T1 after the CANCEL, the INVITE transaction is given up.
    this.timers.set('cancel-give-up', 64 * this.core.timers.t1, () => {
      this.fail(this.cancelError());
      this.tx?.abort();
    });
  }

  private cancelError(response?: SipResponse): SipError {
    return this.cancelledByTimeout
      ? new SipError('TIMEOUT', 'no answer before timeoutMs', 408, response)
      : new SipError('CANCELLED', 'call cancelled', 487, response);
  }

  private fail(err: SipError): void {
    if (this.current === S.Answered || this.current === S.Failed) return;
    this.transition(S.Failed);
    this.error = err;
    this.finish();
    this.emit('failed', err);
  }

  private finish(): void {
    this.timers.clearAll();
    this.early.clear();
  }

  private transition(to: ClientCallState): void {
    if (!(TRANSITIONS.get(this.current) ?? []).includes(to)) {
      throw new Error(`ClientCall ${this.callId}: illegal transition ${this.current} -> ${to}`);
    }
    this.current = to;
  }
}
