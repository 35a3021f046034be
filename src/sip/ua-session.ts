/**
 * An established INVITE dialog usage (RFC 3261 §12-§15, RFC 5057 "invite usage"): what the daemon
 * holds for a connected call leg, whichever side set it up. It hangs up (BYE, §15), re-negotiates
 * media (re-INVITE with the §14.1 glare back-off; incoming re-INVITE/UPDATE answered through the
 * offer handler), carries INFO, and retransmits its own 2xx to re-INVITEs until the ACK (§13.3.1.4).
 */
import { EventEmitter } from 'node:events';
import type { SipRequest, SipResponse } from './message.js';
import type { Dialog } from './dialog.js';
import type { InviteServerTransaction, NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import { cseqOf, TransactionState } from './transaction.js';
import { TimerSet } from './timers.js';
import { SipError, SuccessRetransmitter, sdpOf, ALLOW, ACCEPT, type DialogUsage, type CancelTarget, type UaCore } from './ua-core.js';

/** The usage's life: confirmed until a BYE (either way), a fatal 408/481, or close(). */
export enum SessionState {
  Confirmed = 'confirmed',
  Terminated = 'terminated',
}

/** Why a session ended. */
export type SessionEndReason =
  | 'local-bye'
  | 'remote-bye'
  /** Our 2xx to a re-INVITE got no ACK within 64*T1 (§13.3.1.4). */
  | 'ack-timeout'
  /** An in-dialog request of ours timed out or got 408/481 (§12.2.1.2). */
  | 'dialog-lost'
  | 'closed';

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

/** Events of {@link Session}. */
export interface SessionEvents {
  /** The peer hung up (we answered 200); `terminated` follows. */
  bye: [request: SipRequest];
  /** The peer's SDP changed (re-INVITE, UPDATE, or the answer in an ACK). */
  sdp: [remoteSdp: string];
  /** An INFO arrived (already answered 200), e.g. DTMF relay. */
  info: [request: SipRequest];
  /** Once; every timer of the session is stopped by then. */
  terminated: [reason: SessionEndReason];
}

/** Options of {@link Session.request} and {@link Session.reinvite}. */
export interface InDialogRequestOptions {
  body?: string | Buffer;
  contentType?: string;
  headers?: { name: string; value: string }[];
}

/** What the UAC remembers to re-ACK retransmitted 2xx of its latest INVITE (§13.2.2.4). */
export interface SentAck {
  cseq: number;
  ack: SipRequest;
}

interface IncomingInvite {
  tx: InviteServerTransaction;
  cseq: number;
  retransmitter?: SuccessRetransmitter;
}

/**
 * A confirmed INVITE dialog. Created by the UA (ServerCall.accept / ClientCall on 2xx); the daemon
 * only uses the public methods and events.
 */
export class Session extends EventEmitter<SessionEvents> implements DialogUsage, CancelTarget {
  /** The dialog state (§12); read-only for users. */
  readonly dialog: Dialog;
  /** Our current SDP (the last offer or answer we sent). */
  localSdp: string | undefined;
  /** The peer's current SDP. */
  remoteSdp: string | undefined;
  private current = SessionState.Confirmed;
  private endReason: SessionEndReason | undefined;
  private offerHandler: OfferHandler | undefined;
  /** reinvite() is running (including its glare back-off): a second call is a caller bug. */
  private reinviting = false;
  /** Our INVITE has no final response yet: a peer's offer now is glare, answered 491 (§14.2). */
  private offerInFlight = false;
  private idleWaiters: (() => void)[] = [];
  private incoming: IncomingInvite | undefined;
  private lastAck: SentAck | undefined;
  private readonly timers: TimerSet;
  private readonly waiters = new Set<(err: SipError) => void>();

  constructor(
    private readonly core: UaCore,
    dialog: Dialog,
    sdp: { local?: string; remote?: string },
    lastAck?: SentAck,
  ) {
    super();
    this.dialog = dialog;
    this.localSdp = sdp.local;
    this.remoteSdp = sdp.remote;
    this.lastAck = lastAck;
    this.timers = new TimerSet(core.clock);
    core.addDialog(dialog.id, this);
  }

  get state(): SessionState {
    return this.current;
  }

  /** Why it ended, once terminated. */
  get reason(): SessionEndReason | undefined {
    return this.endReason;
  }

  /** Sets the handler for the peer's re-INVITE/UPDATE offers; without one we answer with `localSdp`. */
  onOffer(handler: OfferHandler | undefined): void {
    this.offerHandler = handler;
  }

  /**
   * Hangs up (§15.1.1): sends BYE and ends the session at once; resolves when the BYE transaction
   * finishes (any final response, or timeout). Idempotent: resolves at once when already ended.
   */
  async bye(headers?: { name: string; value: string }[]): Promise<void> {
    await this.hangup('local-bye', headers);
  }

  /** @internal BYE with a given end reason (ack-timeout, closed). */
  async hangup(reason: SessionEndReason, headers?: { name: string; value: string }[]): Promise<void> {
    if (this.current === SessionState.Terminated) return;
    const request = this.dialog.createRequest('BYE', { headers });
    this.end(reason);
    await this.transact(request).catch(() => undefined);
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
   * @throws SipError `TERMINATED`, `TIMEOUT`, `TRANSPORT`
   */
  async request(method: string, options: InDialogRequestOptions = {}): Promise<SipResponse> {
    if (method === 'INVITE' || method === 'ACK' || method === 'CANCEL' || method === 'BYE') {
      throw new Error(`use reinvite()/bye() for ${method}`);
    }
    this.assertOpen();
    return this.transact(this.dialog.createRequest(method, options));
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

  /** @internal A late 2xx retransmission of our latest INVITE: ACK it again (§13.2.2.4). */
  handleStrayResponse(response: SipResponse): void {
    const cseq = cseqOf(response);
    if (this.lastAck !== undefined && cseq?.method === 'INVITE' && cseq.seq === this.lastAck.cseq && response.status < 300) {
      this.core.sendAck(this.lastAck.ack);
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

  /** @internal Ends the session locally without signalling (UA close, or the caller's BYE path). */
  end(reason: SessionEndReason): void {
    if (this.current === SessionState.Terminated) return;
    this.current = SessionState.Terminated;
    this.endReason = reason;
    this.dialog.terminate();
    this.core.removeDialog(this.dialog.id, this);
    this.timers.clearAll();
    const pending = this.incoming;
    this.incoming = undefined;
    if (pending !== undefined) {
      pending.retransmitter?.stop();
      this.core.removeCancelTarget(pending.tx.key, this);
      // §15.1.2: requests still pending when the dialog ends are answered 487.
      if (pending.tx.state === TransactionState.Proceeding) pending.tx.respond(this.core.response(pending.tx.request, 487));
    }
    const err = new SipError('TERMINATED', `session ended (${reason})`);
    for (const fail of this.waiters) fail(err);
    this.waiters.clear();
    this.idleWaiters = [];
    this.emit('terminated', reason);
  }

  private handleOffer(request: SipRequest, tx: ServerTransaction, seq: number): void {
    const method = request.method as 'INVITE' | 'UPDATE';
    // §14.2: our own offer is pending → 491; the peer's previous re-INVITE is pending → 500 + Retry-After.
    if (this.offerInFlight) {
      tx.respond(this.core.response(request, 491));
      return;
    }
    if (this.incoming !== undefined) {
      const retryAfter = String(Math.floor(this.core.random() * 10));
      tx.respond(this.core.response(request, 500, { headers: [{ name: 'Retry-After', value: retryAfter }] }));
      return;
    }
    const inviteTx = method === 'INVITE' ? (tx as InviteServerTransaction) : undefined;
    if (inviteTx !== undefined) {
      this.setIncoming({ tx: inviteTx, cseq: seq });
      this.core.addCancelTarget(inviteTx.key, this);
    }
    const offer = sdpOf(request);
    const handler = this.offerHandler;
    Promise.resolve()
      .then(() => (handler === undefined ? this.localSdp : handler({ method, sdp: offer, request })))
      .then(
        (answer) => this.answerOffer(request, tx, inviteTx, offer, answer),
        (err: unknown) => {
          if (this.current === SessionState.Terminated || (inviteTx !== undefined && this.incoming?.tx !== inviteTx)) return;
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
    // CANCELed, superseded or ended while the handler ran: that path already answered.
    if (this.current === SessionState.Terminated || (inviteTx !== undefined && this.incoming?.tx !== inviteTx)) return;
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

  /**
   * Runs one client transaction to its final response. For an INVITE, every 2xx (first and
   * retransmitted) is ACKed with the same ACK (§13.2.2.4). 408/481/timeout end the session.
   */
  private transact(request: SipRequest): Promise<SipResponse> {
    return new Promise<SipResponse>((resolve, reject) => {
      const tx = this.core.sendRequest(request);
      const seq = cseqOf(request)?.seq ?? 0;
      tx.on('response', (response) => {
        if (response.status < 200) return;
        if (request.method === 'INVITE' && response.status < 300) {
          if (this.lastAck?.cseq !== seq) {
            this.lastAck = { cseq: seq, ack: this.dialog.createRequest('ACK', { cseq: seq }) };
          }
          this.core.sendAck(this.lastAck.ack);
        }
        if (response.status === 408 || response.status === 481) this.end('dialog-lost');
        resolve(response);
      });
      tx.once('timeout', () => {
        this.end('dialog-lost');
        reject(new SipError('TIMEOUT', `${request.method} timed out`, 408));
      });
      tx.once('transportError', (err) => {
        this.end('dialog-lost');
        reject(new SipError('TRANSPORT', `${request.method} could not be sent: ${err.message}`, 503));
      });
    });
  }

  /** A cancellable wait: rejects with TERMINATED when the session ends first. */
  private delay(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: SipError): void => reject(err);
      this.waiters.add(fail);
      this.timers.set('glare', ms, () => {
        this.waiters.delete(fail);
        resolve();
      });
    });
  }

  private assertOpen(): void {
    if (this.current === SessionState.Terminated) throw new SipError('TERMINATED', `session ended (${this.endReason})`);
  }
}
