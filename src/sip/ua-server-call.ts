/**
 * An incoming call (RFC 3261 §13.3, the UAS side of an INVITE) until it is answered and ACKed,
 * rejected, or cancelled. The daemon gets one per new INVITE from `UserAgent.onInvite` and
 * drives it: provisional responses (180/183, optionally with early media SDP), `accept(sdp)` which
 * retransmits the 2xx until the ACK (§13.3.1.4) and resolves to a {@link Session}, or `reject()`.
 * A CANCEL is answered by the core (200, then 487 to the INVITE, §9.2) and reported as `cancel`.
 */
import { EventEmitter } from 'node:events';
import type { NameAddr, SipRequest, SipResponse } from './message.js';
import { getHeader, parseNameAddr } from './headers.js';
import { Dialog, DialogState, tagOf } from './dialog.js';
import type { InviteServerTransaction, NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import { TransactionState, cseqOf, newTag } from './transaction.js';
import { Session } from './ua-session.js';
import { ALLOW, SipError, SuccessRetransmitter, sdpOf, type CancelTarget, type DialogUsage, type UaCore } from './ua-core.js';

/** Where an incoming call is; every transition is checked. */
export enum ServerCallState {
  /** INVITE received, nothing (or only 100) sent. */
  Proceeding = 'proceeding',
  /** A provisional with our To tag went out: an early dialog exists (§12.1.1). */
  Early = 'early',
  /** 2xx sent, waiting for the ACK. */
  Accepting = 'accepting',
  /** ACK received: a Session carries on. */
  Confirmed = 'confirmed',
  Rejected = 'rejected',
  Cancelled = 'cancelled',
  /** No ACK within 64*T1, a BYE before the ACK, a transport error, or close(). */
  Failed = 'failed',
}

const S = ServerCallState;
const TRANSITIONS: ReadonlyMap<ServerCallState, readonly ServerCallState[]> = new Map([
  [S.Proceeding, [S.Early, S.Accepting, S.Rejected, S.Cancelled, S.Failed]],
  [S.Early, [S.Accepting, S.Rejected, S.Cancelled, S.Failed]],
  [S.Accepting, [S.Confirmed, S.Failed]],
]);

/** Events of {@link ServerCall}. */
export interface ServerCallEvents {
  /** The caller cancelled (we already answered 200 to the CANCEL and 487 to the INVITE). */
  cancel: [request: SipRequest];
  /** Once, on reaching a terminal state (confirmed, rejected, cancelled, failed). */
  end: [state: ServerCallState];
}

/** Extra headers and SDP of a provisional or final response. */
export interface AnswerOptions {
  headers?: { name: string; value: string }[];
  reason?: string;
}

/** One incoming INVITE, created by the UserAgent. */
export class ServerCall extends EventEmitter<ServerCallEvents> implements CancelTarget, DialogUsage {
  readonly request: SipRequest;
  readonly callId: string;
  /** The caller (From, with its tag). */
  readonly from: NameAddr;
  /** The callee as addressed (To, without our tag). */
  readonly to: NameAddr;
  /** The caller's SDP offer; undefined for an offerless INVITE (our 2xx is then the offer). */
  readonly remoteSdp: string | undefined;
  /** The tag we put in To of every response but 100 (§8.2.6.2). */
  readonly localTag = newTag();
  private current = S.Proceeding;
  private dialog: Dialog | undefined;
  private retransmitter: SuccessRetransmitter | undefined;
  private localSdp: string | undefined;
  private settle: { resolve: (s: Session) => void; reject: (e: SipError) => void } | undefined;
  private readonly dialogId: string;

  /** @internal Created by the UserAgent for a validated out-of-dialog INVITE (Contact, From tag present). */
  constructor(
    private readonly core: UaCore,
    private readonly tx: InviteServerTransaction,
  ) {
    super();
    this.request = tx.request;
    this.callId = getHeader(this.request, 'Call-ID') ?? '';
    this.from = parseNameAddr(getHeader(this.request, 'From') ?? '', 'From');
    this.to = parseNameAddr(getHeader(this.request, 'To') ?? '', 'To');
    this.remoteSdp = sdpOf(this.request);
    this.dialogId = Dialog.id(this.callId, this.localTag, tagOf(this.request, 'From') ?? '');
    core.addDialog(this.dialogId, this);
    core.addCancelTarget(tx.key, this);
    tx.once('transportError', () => this.fail(new SipError('TRANSPORT', 'could not answer the INVITE', 503)));
  }

  /** Where the call is (see {@link ServerCallState}). */
  get state(): ServerCallState {
    return this.current;
  }

  /**
   * Sends a provisional response (101-199, default 180 Ringing) with our To tag, which makes an
   * early dialog (§12.1.1); `sdp` (183 Session Progress) is early media.
   * @throws Error unless the call is still ringing (a bug), or for a status outside 101-199
   */
  progress(status = 180, options: AnswerOptions & { sdp?: string } = {}): void {
    if (status <= 100 || status >= 200) throw new Error(`progress() needs a 101-199 status, got ${status}`);
    this.assertRinging('progress');
    this.ensureDialog(DialogState.Early);
    if (this.current === S.Proceeding) this.transition(S.Early);
    if (options.sdp !== undefined) this.localSdp = options.sdp;
    this.tx.respond(this.core.response(this.request, status, { ...options, toTag: this.localTag, contact: true, recordRoute: true }));
  }

  /**
   * Answers 200 OK with `sdp` and resolves once the ACK arrives (§13.3.1.4: the 2xx is resent at
   * T1, 2*T1 ... up to T2 meanwhile). With no ACK after 64*T1 the dialog is BYEd.
   *
   * @throws SipError (rejects) `ACK_TIMEOUT`, `TERMINATED` (BYE before the ACK), `TRANSPORT`,
   *   `CLOSED`; `CANCELLED` when the caller cancelled before we answered
   */
  accept(sdp: string | undefined, options: AnswerOptions = {}): Promise<Session> {
    if (this.current === S.Cancelled) return Promise.reject(new SipError('CANCELLED', 'the caller cancelled', 487));
    if (this.current === S.Failed) return Promise.reject(new SipError('TERMINATED', 'the call already failed'));
    this.assertRinging('accept');
    const dialog = this.ensureDialog(DialogState.Confirmed);
    if (dialog.state === DialogState.Early) dialog.confirm();
    this.localSdp = sdp;
    const ok = this.core.response(this.request, 200, {
      ...options,
      toTag: this.localTag,
      contact: true,
      recordRoute: true,
      sdp,
      headers: [{ name: 'Allow', value: ALLOW }, ...(options.headers ?? [])],
    });
    this.transition(S.Accepting);
    this.core.removeCancelTarget(this.tx.key, this); // §9.2: a CANCEL after the 2xx changes nothing
    const promise = new Promise<Session>((resolve, reject) => (this.settle = { resolve, reject }));
    this.tx.respond(ok);
    this.retransmitter = new SuccessRetransmitter(
      this.core.clock,
      this.core.timers,
      () => {
        if (this.tx.state !== TransactionState.Terminated) this.tx.respond(ok);
      },
      () => this.ackTimeout(),
    );
    this.retransmitter.start();
    return promise;
  }

  /**
   * Rejects the call with a final status (300-699; default 486 Busy Here).
   * @throws Error when the status is not a failure status, or the call is no longer ringing (a bug)
   */
  reject(status = 486, options: AnswerOptions = {}): void {
    if (status < 300 || status > 699) throw new Error(`reject() needs a 300-699 status, got ${status}`);
    this.assertRinging('reject');
    this.tx.respond(this.core.response(this.request, status, { ...options, toTag: this.localTag }));
    this.finish(S.Rejected);
  }

  /** @internal CANCEL matched our INVITE (§9.2). */
  handleCancel(cancel: SipRequest, cancelTx: NonInviteServerTransaction): void {
    cancelTx.respond(this.core.response(cancel, 200, { toTag: this.localTag }));
    if (this.current !== S.Proceeding && this.current !== S.Early) return;
    this.tx.respond(this.core.response(this.request, 487, { toTag: this.localTag }));
    this.finish(S.Cancelled);
    this.emit('cancel', cancel);
  }

  /** @internal The ACK for our 2xx: the call is confirmed, the Session takes the dialog over. */
  handleAck(ack: SipRequest): void {
    if (this.current !== S.Accepting || this.dialog === undefined) return;
    if (cseqOf(ack)?.seq !== cseqOf(this.request)?.seq) return;
    const remote = this.remoteSdp ?? sdpOf(ack); // offerless INVITE: the answer is in the ACK
    const session = new Session(this.core, this.dialog, { local: this.localSdp, remote });
    const settle = this.settle;
    this.finish(S.Confirmed);
    settle?.resolve(session);
  }

  /** @internal Requests in the early dialog or before the ACK (§12.2.2). */
  handleRequest(request: SipRequest, tx: ServerTransaction): void {
    const respond = (status: number): void => void tx.respond(this.core.response(request, status));
    switch (request.method) {
      case 'BYE':
        // The caller hung up before our ACK arrived (§15.1.2 allows it) or the early dialog ended.
        respond(200);
        if (this.current === S.Proceeding || this.current === S.Early) {
          this.tx.respond(this.core.response(this.request, 487, { toTag: this.localTag }));
          this.finish(S.Cancelled);
          this.emit('cancel', request);
        } else {
          this.fail(new SipError('TERMINATED', 'the caller hung up before the ACK'));
        }
        return;
      case 'INVITE':
      case 'UPDATE':
        return respond(491); // §14.2: our offer/answer is still in progress
      case 'INFO':
      case 'OPTIONS':
        return respond(200);
      default:
        return respond(405);
    }
  }

  /** @internal Nothing to re-ACK on the UAS side. */
  handleStrayResponse(_response: SipResponse): void {}

  /** @internal UA close: 503 while ringing, fail while waiting for the ACK. */
  shutdown(): void {
    if (this.current === S.Proceeding || this.current === S.Early) {
      this.tx.respond(this.core.response(this.request, 503, { toTag: this.localTag }));
    }
    this.fail(new SipError('CLOSED', 'the user agent closed'));
  }

  private ackTimeout(): void {
    if (this.current !== S.Accepting || this.dialog === undefined) return;
    // §13.3.1.4: no ACK after 64*T1 — the session is considered over: BYE it.
    const session = new Session(this.core, this.dialog, { local: this.localSdp, remote: this.remoteSdp });
    void session.hangup('ack-timeout'); // builds and sends the BYE synchronously, ends the session
    this.fail(new SipError('ACK_TIMEOUT', 'no ACK for our 2xx within 64*T1'));
  }

  private ensureDialog(state: DialogState): Dialog {
    this.dialog ??= Dialog.fromUasRequest(this.request, this.localTag, state, this.core.contact);
    return this.dialog;
  }

  private assertRinging(what: string): void {
    if (this.current !== S.Proceeding && this.current !== S.Early) {
      throw new Error(`ServerCall ${this.callId}: ${what}() in state ${this.current}`);
    }
  }

  private fail(err: SipError): void {
    if (!(TRANSITIONS.get(this.current) ?? []).includes(S.Failed)) return; // already ended
    const settle = this.settle;
    this.finish(S.Failed);
    settle?.reject(err);
  }

  /** Moves to a terminal state and releases everything this call registered. */
  private finish(state: ServerCallState): void {
    this.transition(state);
    this.retransmitter?.stop();
    this.settle = undefined;
    this.core.removeCancelTarget(this.tx.key, this);
    this.core.removeDialog(this.dialogId, this);
    if (state !== S.Confirmed && this.dialog !== undefined && this.dialog.state !== DialogState.Terminated) {
      this.dialog.terminate();
    }
    this.emit('end', state);
  }

  private transition(to: ServerCallState): void {
    if (!(TRANSITIONS.get(this.current) ?? []).includes(to)) {
      throw new Error(`ServerCall ${this.callId}: illegal transition ${this.current} -> ${to}`);
    }
    this.current = to;
  }
}
