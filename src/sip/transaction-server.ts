/**
 * Server transactions (RFC 3261 §17.2): the INVITE server (Figure 7, with the Accepted state of
 * RFC 6026 §8.7) and the non-INVITE server (Figure 8).
 *
 * The TU answers with `respond()`; the transaction absorbs request retransmissions (answering them
 * with the latest response), retransmits a non-2xx final INVITE response with Timer G until the ACK
 * (unreliable transports only), and sends 100 Trying itself when the TU has not answered within
 * 200 ms (§17.2.1). Retransmitting a 2xx until the ACK is the UAS core's job (§13.3.1.4), done in
 * the user agent; in Accepted this transaction just passes those retransmissions to the transport.
 */
import type { SipRequest, SipResponse } from './message.js';
import { buildResponse } from './serialize.js';
import {
  Transaction,
  TransactionState,
  serverTransactionKey,
  transitionTable,
  type TransactionKind,
  type TransactionOptions,
} from './transaction.js';

const S = TransactionState;

/** Figure 7 + RFC 6026: a 2xx leads to Accepted, a non-2xx to Completed, its ACK to Confirmed. */
const INVITE_SERVER = transitionTable([
  [S.Proceeding, [S.Completed, S.Accepted]],
  [S.Completed, [S.Confirmed]],
  [S.Confirmed, []],
  [S.Accepted, []],
]);

/** Figure 8. */
const NON_INVITE_SERVER = transitionTable([
  [S.Trying, [S.Proceeding, S.Completed]],
  [S.Proceeding, [S.Completed]],
  [S.Completed, []],
]);

/** How long the INVITE server waits for the TU before sending 100 Trying itself (§17.2.1), ms. */
export const AUTO_TRYING_MS = 200;

function keyOf(request: SipRequest): string {
  const key = serverTransactionKey(request);
  if (key === undefined) throw new Error(`server ${request.method} request has no top Via or CSeq`);
  return key;
}

/**
 * The INVITE server transaction (§17.2.1). Events: `timeout` when Timer H fires (no ACK for our
 * non-2xx final response: a transaction failure for the TU), `transportError`, `terminated`.
 */
export class InviteServerTransaction extends Transaction {
  readonly kind: TransactionKind = 'invite-server';
  private provisional: SipResponse | undefined;
  private final: SipResponse | undefined;
  private intervalG: number;

  /** @throws Error when `request` is not an INVITE with a top Via and CSeq (a bug). */
  constructor(request: SipRequest, options: TransactionOptions) {
    if (request.method !== 'INVITE') throw new Error(`InviteServerTransaction for ${request.method}`);
    super(request, keyOf(request), S.Proceeding, INVITE_SERVER, options);
    this.intervalG = this.t.G;
  }

  /** Arms the 200 ms automatic 100 Trying (cancelled by any response from the TU). */
  start(): void {
    this.timers.set('trying', AUTO_TRYING_MS, () => {
      if (this.state === S.Proceeding && this.provisional === undefined) this.respond(buildResponse(this.request, 100));
    });
  }

  /** The final response sent, once there is one. */
  get finalResponse(): SipResponse | undefined {
    return this.final;
  }

  /**
   * Sends a response from the TU. 1xx keeps Proceeding; 2xx moves to Accepted (later 2xx
   * retransmissions from the UAS core pass through); 300-699 moves to Completed and starts Timers G
   * (unreliable only) and H.
   *
   * @returns false when the transaction already terminated (the response is dropped)
   * @throws Error for a response the state does not allow (a provisional or a second final after a
   *   final; a non-2xx in Accepted): a bug in the TU
   */
  respond(response: SipResponse): boolean {
    const { status } = response;
    if (this.state === S.Terminated) return false;
    if (this.state === S.Accepted && status >= 200 && status < 300) {
      this.send(response);
      return true;
    }
    if (this.state !== S.Proceeding) {
      throw new Error(`INVITE server transaction ${this.key}: cannot send ${status} in ${this.state}`);
    }
    this.timers.clear('trying');
    if (status < 200) {
      this.provisional = response;
      this.send(response);
    } else if (status < 300) {
      this.final = response;
      this.transition(S.Accepted);
      this.send(response);
      this.timers.set('L', this.t.L, () => this.terminate('normal'));
    } else {
      this.final = response;
      this.transition(S.Completed);
      this.send(response);
      if (!this.reliable) this.timers.set('G', this.intervalG, () => this.onTimerG());
      this.timers.set('H', this.t.H, () => {
        this.emit('timeout');
        this.terminate('timeout');
      });
    }
    return true;
  }

  /** A retransmission of the INVITE (§17.2.1): answered with the latest response, never passed up. */
  receiveRequest(_retransmission: SipRequest): void {
    if (this.state === S.Proceeding && this.provisional !== undefined) this.send(this.provisional);
    else if (this.state === S.Completed && this.final !== undefined) this.send(this.final);
    // Accepted (RFC 6026 §8.7) and Confirmed absorb it silently.
  }

  /**
   * An ACK matched to this transaction (§17.2.3).
   * @returns true when the transaction absorbed it (the ACK for our non-2xx, or its retransmission);
   *   false in Accepted, where the ACK belongs to the UAS core (RFC 6026 §8.7)
   */
  receiveAck(_ack: SipRequest): boolean {
    switch (this.state) {
      case S.Completed:
        this.timers.clear('G');
        this.timers.clear('H');
        this.transition(S.Confirmed);
        // Timer I absorbs ACK retransmissions; 0 over TCP.
        if (this.t.I === 0) this.terminate('normal');
        else this.timers.set('I', this.t.I, () => this.terminate('normal'));
        return true;
      case S.Accepted:
        return false;
      default:
        return true;
    }
  }

  private onTimerG(): void {
    if (this.state !== S.Completed || this.final === undefined) return;
    this.send(this.final);
    this.intervalG = Math.min(2 * this.intervalG, this.t.t2);
    this.timers.set('G', this.intervalG, () => this.onTimerG());
  }
}

/**
 * The non-INVITE server transaction (§17.2.2). Events: `transportError`, `terminated`. It has no
 * timeout of its own: the TU must answer (the UA core always does, synchronously or soon).
 */
export class NonInviteServerTransaction extends Transaction {
  readonly kind: TransactionKind = 'non-invite-server';
  private provisional: SipResponse | undefined;
  private final: SipResponse | undefined;

  /** @throws Error when `request` is an INVITE/ACK or lacks a top Via or CSeq (a bug). */
  constructor(request: SipRequest, options: TransactionOptions) {
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new Error(`NonInviteServerTransaction for ${request.method}`);
    }
    super(request, keyOf(request), S.Trying, NON_INVITE_SERVER, options);
  }

  /** The final response sent, once there is one. */
  get finalResponse(): SipResponse | undefined {
    return this.final;
  }

  /**
   * Sends a response from the TU; a final one moves to Completed and starts Timer J (0 over TCP).
   * @returns false when the transaction already terminated
   * @throws Error for any response after the final one (a bug in the TU)
   */
  respond(response: SipResponse): boolean {
    if (this.state === S.Terminated) return false;
    if (this.state === S.Completed) {
      throw new Error(`non-INVITE server transaction ${this.key}: cannot send ${response.status} after a final response`);
    }
    if (response.status < 200) {
      if (this.state === S.Trying) this.transition(S.Proceeding);
      this.provisional = response;
      this.send(response);
      return true;
    }
    this.final = response;
    this.transition(S.Completed);
    this.send(response);
    if (this.t.J === 0) this.terminate('normal');
    else this.timers.set('J', this.t.J, () => this.terminate('normal'));
    return true;
  }

  /** A retransmission of the request: absorbed in Trying, answered with the latest response after. */
  receiveRequest(_retransmission: SipRequest): void {
    if (this.state === S.Proceeding && this.provisional !== undefined) this.send(this.provisional);
    else if (this.state === S.Completed && this.final !== undefined) this.send(this.final);
  }
}

/** Either server transaction. */
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
