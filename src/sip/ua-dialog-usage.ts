/**
 * The part of an INVITE dialog usage (RFC 5057) that does not depend on offer/answer: its life
 * (confirmed → terminated, with a reason), hanging up with BYE (§15.1.1), running in-dialog client
 * transactions (ACKing every 2xx to an INVITE, §13.2.2.4; ending the dialog on 408/481/timeout,
 * §12.2.1.2), re-ACKing late 2xx retransmissions, and cancellable waits. Session (ua-session.ts)
 * adds media re-negotiation on top.
 */
import { EventEmitter } from 'node:events';
import type { SipRequest, SipResponse } from './message.js';
import type { Dialog } from './dialog.js';
import { cseqOf } from './transaction.js';
import { TimerSet } from './timers.js';
import type { ServerTransaction } from './transaction-server.js';
import { SipError, type DialogUsage, type UaCore } from './ua-core.js';

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

/** Events of a Session. */
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

/**
 * Life, BYE and client transactions of a confirmed INVITE dialog; see the module comment. Created
 * only through Session.
 */
export abstract class InviteUsage extends EventEmitter<SessionEvents> implements DialogUsage {
  /** The dialog state (§12); read-only for users. */
  readonly dialog: Dialog;
  protected current = SessionState.Confirmed;
  protected endReason: SessionEndReason | undefined;
  protected readonly timers: TimerSet;
  /** Pending waits, rejected with TERMINATED when the usage ends. */
  protected readonly waiters = new Set<(err: SipError) => void>();
  private lastAck: SentAck | undefined;

  protected constructor(
    protected readonly core: UaCore,
    dialog: Dialog,
    lastAck?: SentAck,
  ) {
    super();
    this.dialog = dialog;
    this.lastAck = lastAck;
    this.timers = new TimerSet(core.clock);
  }

  /** confirmed, or terminated (see `reason`). */
  get state(): SessionState {
    return this.current;
  }

  /** Why it ended, once terminated. */
  get reason(): SessionEndReason | undefined {
    return this.endReason;
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

  /** @internal A late 2xx retransmission of our latest INVITE: ACK it again (§13.2.2.4). */
  handleStrayResponse(response: SipResponse): void {
    const cseq = cseqOf(response);
    if (this.lastAck !== undefined && cseq?.method === 'INVITE' && cseq.seq === this.lastAck.cseq && response.status < 300) {
      this.core.sendAck(this.lastAck.ack);
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
    this.release();
    const err = new SipError('TERMINATED', `session ended (${reason})`);
    for (const fail of this.waiters) fail(err);
    this.waiters.clear();
    this.emit('terminated', reason);
  }

  /** @internal In-dialog request routed here by the UA (§12.2.2); must be answered. */
  abstract handleRequest(request: SipRequest, tx: ServerTransaction): void;

  /** @internal The ACK for a 2xx of ours. */
  abstract handleAck(ack: SipRequest): void;

  /** Releases what the subclass holds when the usage ends (before waiters fail and `terminated`). */
  protected abstract release(): void;

  /**
   * Runs one client transaction to its final response. For an INVITE, every 2xx (first and
   * retransmitted) is ACKed with the same ACK (§13.2.2.4). 408/481/timeout end the session.
   */
  protected transact(request: SipRequest): Promise<SipResponse> {
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
      tx.once('terminated', (reason) => {
        if (reason === 'aborted') reject(new SipError('CLOSED', 'the user agent closed'));
      });
    });
  }

  /** A cancellable wait: rejects with TERMINATED when the session ends first. */
  protected delay(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: SipError): void => reject(err);
      this.waiters.add(fail);
      this.timers.set('glare', ms, () => {
        this.waiters.delete(fail);
        resolve();
      });
    });
  }

  protected assertOpen(): void {
    if (this.current === SessionState.Terminated) throw new SipError('TERMINATED', `session ended (${this.endReason})`);
  }
}
