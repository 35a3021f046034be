/**
 * An established INVITE dialog usage (RFC 3261 §12-§15, RFC 5057 "invite usage"): what the daemon
 * holds for a connected call leg, whichever side set it up. It hangs up (BYE, §15), re-negotiates
 * media (re-INVITE with the §14.1 glare back-off; incoming re-INVITE/UPDATE answered through the
 * offer handler), carries INFO, and retransmits its own 2xx to re-INVITEs until the ACK (§13.3.1.4).
 */
import type { SipRequest, SipResponse } from './message.js';
import type { Dialog } from './dialog.js';
import type { InviteServerTransaction, NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import { cseqOf, TransactionState } from './transaction.js';
import { SipError, SuccessRetransmitter, sdpOf, ALLOW, ACCEPT, type DialogUsage, type CancelTarget, type UaCore } from './ua-core.js';
import { InviteUsage, SessionState, type InDialogRequestOptions, type SentAck } from './ua-dialog-usage.js';

export { SessionState, type SessionEndReason, type SessionEvents, type InDialogRequestOptions, type SentAck } from './ua-dialog-usage.js';

/** An offer from the peer: a re-INVITE (maybe without SDP: we offer in the 2xx) or an UPDATE. */
export interface IncomingOffer {
  method: 'INVITE' | 'UPDATE';
  /** The peer's SDP offer; undefined for an offerless re-INVITE (our answer is then an offer). */
  sdp: string | undefined;
  request: SipRequest;
}

/**
 * Returns the SDP to answer with (or undefined for no body). Throw a {@link SipError} with a
 * `status` to reject with it; any other error rejects with 488 Not Acceptable Here.
 */
export type OfferHandler = (offer: IncomingOffer) => Promise<string | undefined> | string | undefined;

interface IncomingInvite {
  tx: InviteServerTransaction;
  cseq: number;
  retransmitter?: SuccessRetransmitter;
}

/**
 * A confirmed INVITE dialog. Created by the UA (ServerCall.accept / ClientCall on 2xx); the daemon
 * only uses the public methods and events.
 */
export class Session extends InviteUsage implements DialogUsage, CancelTarget {
  /** Our current SDP (the last offer or answer we sent). */
  localSdp: string | undefined;
  /** The peer's current SDP. */
  remoteSdp: string | undefined;
  private offerHandler: OfferHandler | undefined;
  /** reinvite() is running (including its glare back-off): a second call is a caller bug. */
  private reinviting = false;
  /** Our INVITE has no final response yet: a peer's offer now is glare, answered 491 (§14.2). */
  private offerInFlight = false;
  /** The peer's UPDATE is being answered (RFC 3311 §5.2: a second one gets 500 + Retry-After). */
  private updating = false;
  private idleWaiters: (() => void)[] = [];
  private incoming: IncomingInvite | undefined;

  constructor(core: UaCore, dialog: Dialog, sdp: { local?: string; remote?: string }, lastAck?: SentAck) {
    super(core, dialog, lastAck);
    this.localSdp = sdp.local;
    this.remoteSdp = sdp.remote;
    core.addDialog(dialog.id, this);
  }

  /** Sets the handler for the peer's re-INVITE/UPDATE offers; without one we answer with `localSdp`. */
  onOffer(handler: OfferHandler | undefined): void {
    this.offerHandler = handler;
  }

  /**
   * Sends a re-INVITE with `sdp` as the offer (hold, media change) and resolves with the answer
   * SDP from the 2xx (ACK sent). While the peer's own re-INVITE awaits its ACK it waits first
   * (§14.1). A 491 (glare) is retried after the §14.1 back-off (2.1-4 s when we own the Call-ID,
   * else 0-2 s), up to 3 attempts; during the back-off the peer's re-INVITE is accepted.
   *
   * @throws SipError `REQUEST_PENDING` when a reinvite() is already running, `TERMINATED` when the
   *   session ends meanwhile, `REJECTED` (status) for a failure response (the session stays as it
   *   was, §14.1), `TIMEOUT`/`TRANSPORT` (the session is ended: the dialog is lost, §12.2.1.2)
   */
  async reinvite(sdp: string, options: InDialogRequestOptions = {}): Promise<string | undefined> {
    this.assertOpen();
    if (this.reinviting) throw new SipError('REQUEST_PENDING', 'a re-INVITE of ours is already in progress', 491);
    this.reinviting = true;
    try {
      for (let attempt = 1; ; attempt++) {
        await this.whenIdle(); // §14.1: not while the peer's INVITE transaction awaits its ACK
        this.assertOpen();
        const request = this.dialog.createRequest('INVITE', { ...options, body: sdp, contentType: ACCEPT });
        this.offerInFlight = true;
        let response: SipResponse;
        try {
          response = await this.transact(request);
        } finally {
          this.offerInFlight = false;
        }
        if (response.status === 491 && attempt < 3) {
          const [min, max] = this.dialog.role === 'uac' ? [2100, 4000] : [0, 2000];
          await this.delay(min + Math.floor((this.core.random() * (max - min)) / 10) * 10);
          continue;
        }
        if (response.status >= 300) {
          throw new SipError('REJECTED', `re-INVITE rejected: ${response.status} ${response.reason}`, response.status, response);
        }
        this.dialog.refreshTarget(response);
        this.localSdp = sdp;
        const answer = sdpOf(response);
        if (answer !== undefined) this.remoteSdp = answer;
        return answer;
      }
    } finally {
      this.reinviting = false;
    }
  }

  /**
   * Sends a non-INVITE request in the dialog (INFO, UPDATE, OPTIONS ...) and resolves with its
   * final response, whatever the status. A 408/481 or timeout ends the session (§12.2.1.2).
   * An UPDATE with a body is an SDP offer (RFC 3311): on a 2xx, `localSdp` becomes the offer and
   * `remoteSdp` the answer in its body.
   * @throws SipError `TERMINATED`, `TIMEOUT`, `TRANSPORT`, `CLOSED`; `REQUEST_PENDING` for an
   *   UPDATE offer while another offer/answer exchange runs; Error for INVITE/ACK/CANCEL/BYE
   */
  async request(method: string, options: InDialogRequestOptions = {}): Promise<SipResponse> {
    if (method === 'INVITE' || method === 'ACK' || method === 'CANCEL' || method === 'BYE') {
      throw new Error(`use reinvite()/bye() for ${method}`);
    }
    this.assertOpen();
    // An UPDATE with a body is an offer: the peer's offer meanwhile is glare (RFC 3311 §5.2).
    const offer = method === 'UPDATE' && options.body !== undefined;
    if (offer && (this.offerInFlight || this.incoming !== undefined || this.updating)) {
      throw new SipError('REQUEST_PENDING', 'an offer/answer exchange is already in progress', 491);
    }
    if (offer) this.offerInFlight = true;
    try {
      const response = await this.transact(this.dialog.createRequest(method, options));
      if (offer && response.status >= 200 && response.status < 300) {
        this.localSdp = Buffer.isBuffer(options.body) ? options.body.toString('utf8') : options.body;
        this.remoteSdp = sdpOf(response) ?? this.remoteSdp;
      }
      return response;
    } finally {
      if (offer) this.offerInFlight = false;
    }
  }

  /** @internal In-dialog request routed here by the UA (§12.2.2); always answered. */
  handleRequest(request: SipRequest, tx: ServerTransaction): void {
    const respond = (status: number, opts?: Parameters<UaCore['response']>[2]): void => {
      tx.respond(this.core.response(request, status, opts));
    };
    if (this.current === SessionState.Terminated) return respond(481);
    const seq = cseqOf(request)?.seq ?? 0;
    if (!this.dialog.acceptRemoteSeq(seq)) return respond(500, { reason: 'CSeq Out of Order' });
    switch (request.method) {
      case 'BYE':
        respond(200);
        this.emit('bye', request);
        this.end('remote-bye');
        return;
      case 'INVITE':
      case 'UPDATE':
        return this.handleOffer(request, tx, seq);
      case 'INFO':
        respond(200);
        this.emit('info', request);
        return;
      case 'OPTIONS':
        return respond(200, { headers: [{ name: 'Allow', value: ALLOW }, { name: 'Accept', value: ACCEPT }] });
      default:
        return respond(405, { headers: [{ name: 'Allow', value: ALLOW }] });
    }
  }

  /** @internal The ACK for our 2xx to a re-INVITE (it may carry the answer to our offer). */
  handleAck(ack: SipRequest): void {
    const pending = this.incoming;
    if (pending === undefined || cseqOf(ack)?.seq !== pending.cseq) return; // a retransmitted ACK
    pending.retransmitter?.stop();
    this.setIncoming(undefined);
    const answer = sdpOf(ack);
    if (answer !== undefined) {
      this.remoteSdp = answer;
      this.emit('sdp', answer);
    }
  }

  /** @internal A CANCEL for the peer's pending re-INVITE (§9.2): 200, then 487 if still unanswered. */
  handleCancel(cancel: SipRequest, cancelTx: NonInviteServerTransaction): void {
    cancelTx.respond(this.core.response(cancel, 200));
    const pending = this.incoming;
    if (pending !== undefined && pending.tx.state === TransactionState.Proceeding) {
      pending.tx.respond(this.core.response(pending.tx.request, 487));
      this.core.removeCancelTarget(pending.tx.key, this);
      this.setIncoming(undefined);
    }
  }

  private handleOffer(request: SipRequest, tx: ServerTransaction, seq: number): void {
    const method = request.method as 'INVITE' | 'UPDATE';
    // §14.2: our own offer is pending → 491; the peer's previous re-INVITE is pending → 500 + Retry-After.
    if (this.offerInFlight) {
      tx.respond(this.core.response(request, 491));
      return;
    }
    if (this.incoming !== undefined || this.updating) {
      const retryAfter = String(Math.floor(this.core.random() * 10));
      tx.respond(this.core.response(request, 500, { headers: [{ name: 'Retry-After', value: retryAfter }] }));
      return;
    }
    const inviteTx = method === 'INVITE' ? (tx as InviteServerTransaction) : undefined;
    if (inviteTx !== undefined) {
      this.setIncoming({ tx: inviteTx, cseq: seq });
      this.core.addCancelTarget(inviteTx.key, this);
    } else {
      this.updating = true;
    }
    const offer = sdpOf(request);
    const handler = this.offerHandler;
    Promise.resolve()
      .then(() => (handler === undefined ? this.localSdp : handler({ method, sdp: offer, request })))
      .then(
        (answer) => this.answerOffer(request, tx, inviteTx, offer, answer),
        (err: unknown) => {
          if (inviteTx === undefined) this.updating = false;
          if (this.superseded(tx, inviteTx)) return;
          const status = err instanceof SipError && err.status !== undefined && err.status >= 300 ? err.status : 488;
          this.clearIncoming(inviteTx);
          tx.respond(this.core.response(request, status));
        },
      )
      .catch((err: unknown) => this.core.logger.error('answering an in-dialog offer failed', { error: String(err) }));
  }

  private answerOffer(
    request: SipRequest,
    tx: ServerTransaction,
    inviteTx: InviteServerTransaction | undefined,
    offer: string | undefined,
    answer: string | undefined,
  ): void {
    if (inviteTx === undefined) this.updating = false;
    if (this.superseded(tx, inviteTx)) return;
    this.dialog.refreshTarget(request);
    if (offer !== undefined) {
      this.remoteSdp = offer;
      this.emit('sdp', offer);
    }
    if (answer !== undefined) this.localSdp = answer;
    const ok = this.core.response(request, 200, {
      contact: true,
      sdp: answer,
      headers: [{ name: 'Allow', value: ALLOW }],
    });
    tx.respond(ok);
    if (inviteTx === undefined || this.incoming === undefined) return;
    this.core.removeCancelTarget(inviteTx.key, this);
    const retransmitter = new SuccessRetransmitter(
      this.core.clock,
      this.core.timers,
      () => inviteTx.respond(ok),
      () => {
        this.setIncoming(undefined);
        void this.hangup('ack-timeout');
      },
    );
    this.incoming.retransmitter = retransmitter;
    retransmitter.start();
  }

  /**
   * True when the offer was dealt with while the handler ran (CANCELed, or the session ended: a
   * re-INVITE got 487 from end(); an UPDATE gets 481 here so its transaction completes).
   */
  private superseded(tx: ServerTransaction, inviteTx: InviteServerTransaction | undefined): boolean {
    if (inviteTx !== undefined) return this.current === SessionState.Terminated || this.incoming?.tx !== inviteTx;
    if (this.current !== SessionState.Terminated) return false;
    if (tx.finalResponse === undefined && tx.state !== TransactionState.Terminated) tx.respond(this.core.response(tx.request, 481));
    return true;
  }

  private clearIncoming(inviteTx: InviteServerTransaction | undefined): void {
    if (inviteTx === undefined || this.incoming?.tx !== inviteTx) return;
    this.core.removeCancelTarget(inviteTx.key, this);
    this.setIncoming(undefined);
  }

  private setIncoming(value: IncomingInvite | undefined): void {
    this.incoming = value;
    if (value === undefined) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once no peer re-INVITE is pending; rejects with TERMINATED when the session ends. */
  private whenIdle(): Promise<void> {
    if (this.incoming === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const fail = (err: SipError): void => reject(err);
      this.waiters.add(fail);
      this.idleWaiters.push(() => {
        this.waiters.delete(fail);
        resolve();
      });
    });
  }

  /** @internal Answers a still-pending peer re-INVITE 487 when the session ends (§15.1.2). */
  protected release(): void {
    const pending = this.incoming;
    this.incoming = undefined;
    this.idleWaiters = [];
    if (pending === undefined) return;
    pending.retransmitter?.stop();
    this.core.removeCancelTarget(pending.tx.key, this);
    if (pending.tx.state === TransactionState.Proceeding) pending.tx.respond(this.core.response(pending.tx.request, 487));
  }
}
