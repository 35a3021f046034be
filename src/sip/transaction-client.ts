/**
 * Client transactions (RFC 3261 §17.1): the INVITE client (Figure 5, with the Accepted state of
 * RFC 6026 §8.4) and the non-INVITE client (Figure 6), plus the two requests a client transaction
 * derives from its INVITE: the ACK for a non-2xx final response (§17.1.1.3) and the CANCEL (§9.1).
 *
 * Requests are retransmitted only over unreliable transports (Timers A and E); a transport error
 * terminates the transaction (§17.1.4). The TU creates the request with its top Via (and branch)
 * already in place, then calls `start()`.
 */
import type { SipRequest, SipResponse, SipHeader } from './message.js';
import { getHeader } from './headers.js';
import {
  Transaction,
  TransactionState,
  clientTransactionKey,
  cseqOf,
  transitionTable,
  type TransactionKind,
  type TransactionOptions,
} from './transaction.js';

const S = TransactionState;

/** Figure 5 + RFC 6026: 2xx leads to Accepted (absorbing 2xx retransmissions for the TU). */
const INVITE_CLIENT = transitionTable([
  [S.Calling, [S.Proceeding, S.Completed, S.Accepted]],
  [S.Proceeding, [S.Completed, S.Accepted]],
  [S.Completed, []],
  [S.Accepted, []],
]);

/** Figure 6. */
const NON_INVITE_CLIENT = transitionTable([
  [S.Trying, [S.Proceeding, S.Completed]],
  [S.Proceeding, [S.Completed]],
  [S.Completed, []],
]);

function keyOf(request: SipRequest): string {
  const key = clientTransactionKey(request);
  if (key === undefined) throw new Error(`client ${request.method} request has no top Via branch or CSeq`);
  return key;
}

/**
 * The INVITE client transaction (§17.1.1). Events: `response` for every 1xx, the first non-2xx
 * final response (retransmissions of it are answered with the same ACK and absorbed) and every 2xx
 * (in Accepted, so the TU can re-ACK retransmitted 2xx, §13.2.2.4); `timeout` when Timer B fires in
 * Calling; `transportError`; `terminated`.
 *
 * There is deliberately no timeout in Proceeding: how long to ring is the TU's decision (it sends a
 * CANCEL, and aborts the transaction 64*T1 later if no final response comes, §9.1).
 */
export class InviteClientTransaction extends Transaction {
  readonly kind: TransactionKind = 'invite-client';
  private intervalA: number;
  private ack: SipRequest | undefined;

  /** @throws Error when `request` is not an INVITE with a top Via branch and a CSeq (a bug). */
  constructor(request: SipRequest, options: TransactionOptions) {
    if (request.method !== 'INVITE') throw new Error(`InviteClientTransaction for ${request.method}`);
    super(request, keyOf(request), S.Calling, INVITE_CLIENT, options);
    this.intervalA = this.t.A;
  }

  /** Sends the INVITE and starts Timer A (unreliable transports only) and Timer B. */
  start(): void {
    this.send(this.request);
    if (!this.reliable) this.timers.set('A', this.intervalA, () => this.onTimerA());
    this.timers.set('B', this.t.B, () => {
      this.emit('timeout');
      this.terminate('timeout');
    });
  }

  /** The ACK this transaction generated for a non-2xx final response, once there is one. */
  get nonSuccessAck(): SipRequest | undefined {
    return this.ack;
  }

  /** Feeds a response matched to this transaction (§17.1.3). */
  receiveResponse(response: SipResponse): void {
    const { status } = response;
    switch (this.state) {
      case S.Calling:
      case S.Proceeding:
        if (status < 200) {
          if (this.state === S.Calling) {
            // §17.1.1.2: a provisional stops retransmissions; ringing may last as long as the TU likes.
            this.timers.clear('A');
            this.timers.clear('B');
            this.transition(S.Proceeding);
          }
          this.emit('response', response);
        } else if (status < 300) {
          // RFC 6026 §8.4: stay around for 64*T1 so 2xx retransmissions reach the TU, not the core.
          this.timers.clearAll();
          this.transition(S.Accepted);
          this.timers.set('M', this.t.M, () => this.terminate('normal'));
          this.emit('response', response);
        } else {
          this.timers.clearAll();
          this.transition(S.Completed);
          this.ack = buildNonSuccessAck(this.request, response);
          this.send(this.ack);
          this.emit('response', response);
          this.completeAfter(this.t.D, 'D');
        }
        return;
      case S.Completed:
        // §17.1.1.2: a retransmitted final response means our ACK was lost; the TU never hears of it.
        if (status >= 300 && this.ack !== undefined) this.send(this.ack);
        return;
      case S.Accepted:
        if (status >= 200 && status < 300) this.emit('response', response);
        return;
      default:
        return;
    }
  }

  private onTimerA(): void {
    if (this.state !== S.Calling) return;
    this.send(this.request);
    this.intervalA *= 2; // §17.1.1.2: doubles without the T2 cap that non-INVITE requests have
    this.timers.set('A', this.intervalA, () => this.onTimerA());
  }

  /** Starts the last timer before Terminated, or terminates at once when it is 0 (reliable transport). */
  private completeAfter(ms: number, name: string): void {
    if (ms === 0) this.terminate('normal');
    else this.timers.set(name, ms, () => this.terminate('normal'));
  }
}

/**
 * The non-INVITE client transaction (§17.1.2). Events: `response` for provisional responses and the
 * first final response (retransmissions absorbed in Completed); `timeout` when Timer F fires;
 * `transportError`; `terminated`.
 */
export class NonInviteClientTransaction extends Transaction {
  readonly kind: TransactionKind = 'non-invite-client';
  private intervalE: number;

  /** @throws Error when `request` is an INVITE/ACK or lacks a top Via branch or CSeq (a bug). */
  constructor(request: SipRequest, options: TransactionOptions) {
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new Error(`NonInviteClientTransaction for ${request.method}`);
    }
    super(request, keyOf(request), S.Trying, NON_INVITE_CLIENT, options);
    this.intervalE = this.t.E;
  }

  /** Sends the request and starts Timer E (unreliable transports only) and Timer F. */
  start(): void {
    this.send(this.request);
    if (!this.reliable) this.timers.set('E', this.intervalE, () => this.onTimerE());
    this.timers.set('F', this.t.F, () => {
      this.emit('timeout');
      this.terminate('timeout');
    });
  }

  /** Feeds a response matched to this transaction (§17.1.3). */
  receiveResponse(response: SipResponse): void {
    if (this.state !== S.Trying && this.state !== S.Proceeding) return; // Completed absorbs retransmissions
    if (response.status < 200) {
      if (this.state === S.Trying) this.transition(S.Proceeding);
      this.emit('response', response);
      return;
    }
    this.timers.clearAll();
    this.transition(S.Completed);
    this.emit('response', response);
    if (this.t.K === 0) this.terminate('normal');
    else this.timers.set('K', this.t.K, () => this.terminate('normal'));
  }

  private onTimerE(): void {
    if (this.state !== S.Trying && this.state !== S.Proceeding) return;
    this.send(this.request);
    // §17.1.2.2: doubling up to T2 while Trying; a provisional means "keep polling every T2".
    this.intervalE = this.state === S.Trying ? Math.min(2 * this.intervalE, this.t.t2) : this.t.t2;
    this.timers.set('E', this.intervalE, () => this.onTimerE());
  }
}

/** Either client transaction. */
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

/** Headers `names` of `request`, in order, as (name, value) pairs. */
function copyHeaders(request: SipRequest, name: string): SipHeader[] {
  const lower = name.toLowerCase();
  return request.headers.filter((h) => h.name.toLowerCase() === lower).map((h) => ({ ...h }));
}

/**
 * The ACK for a non-2xx final response (§17.1.1.3): same Request-URI, Call-ID, From and CSeq number
 * as the INVITE, To from the response (it carries the UAS's tag), only the INVITE's top Via (so it
 * matches the server transaction), and the INVITE's Route headers. No body.
 *
 * @throws Error when the INVITE lacks Via, CSeq, From, To or Call-ID (the TU built it: a bug).
 */
export function buildNonSuccessAck(invite: SipRequest, response: SipResponse): SipRequest {
  const to = getHeader(response, 'To') ?? getHeader(invite, 'To');
  return derivedRequest(invite, 'ACK', to);
}

/**
 * The CANCEL for a pending INVITE (§9.1): Request-URI, Call-ID, To, From and CSeq number of the
 * INVITE, method CANCEL, the INVITE's top Via (same branch, so it matches the INVITE's server
 * transaction, §9.2) and its Route headers. `reason` adds an RFC 3326 Reason header.
 *
 * @throws Error when the INVITE lacks Via, CSeq, From, To or Call-ID (a bug).
 */
export function buildCancel(invite: SipRequest, reason?: string): SipRequest {
  const cancel = derivedRequest(invite, 'CANCEL', getHeader(invite, 'To'));
  if (reason !== undefined) cancel.headers.splice(cancel.headers.length - 1, 0, { name: 'Reason', value: reason });
  return cancel;
}

function derivedRequest(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string | undefined): SipRequest {
  const via = getHeader(invite, 'Via');
  const from = getHeader(invite, 'From');
  const callId = getHeader(invite, 'Call-ID');
  const cseq = cseqOf(invite);
  if (via === undefined || from === undefined || to === undefined || callId === undefined || cseq === undefined) {
    throw new Error(`cannot derive ${method}: the INVITE lacks Via, From, To, Call-ID or CSeq`);
  }
  return {
    kind: 'request',
    method,
    uri: invite.uri,
    version: 'SIP/2.0',
    headers: [
      { name: 'Via', value: via },
      ...copyHeaders(invite, 'Route'),
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: from },
      { name: 'To', value: to },
      { name: 'Call-ID', value: callId },
      { name: 'CSeq', value: `${cseq.seq} ${method}` },
      { name: 'Content-Length', value: '0' },
    ],
    body: Buffer.alloc(0),
  };
}
