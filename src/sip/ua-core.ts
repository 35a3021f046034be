/**
 * What the user agent's parts share: the core services the UserAgent provides to its calls and
 * sessions (sending through transactions, building responses, routing in-dialog requests), the
 * error type of the UA API, and the 2xx retransmission of RFC 3261 §13.3.1.4, which both the
 * initial INVITE (ua-server-call.ts) and re-INVITEs (ua-session.ts) need.
 */
import type { SipMessage, SipRequest, SipResponse } from './message.js';
import type { ClientTransaction } from './transaction-client.js';
import type { NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import type { SipLogger } from './transport.js';
import { getHeader, getHeaders, parseMaxForwards } from './headers.js';
import { parseUri } from './uri.js';
import { TimerSet, type Clock, type TimerValues } from './timers.js';

/** Methods the UA core implements; anything else gets 405 with this list in Allow (§8.2.1). */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'UPDATE', 'INFO'] as const;

/** The Allow header value. */
export const ALLOW = ALLOWED_METHODS.join(', ');

/** Body types the UA understands in INVITE/UPDATE/ACK (offer/answer, RFC 3264). */
export const ACCEPT = 'application/sdp';

/** Why an operation of the UA API failed (a value for the daemon, not a bug). */
export type SipErrorCode =
  /** The peer answered with a failure status (`status`, `response`). */
  | 'REJECTED'
  /** No (final) response in time: Timer B/F, or the call's own `timeoutMs`. */
  | 'TIMEOUT'
  /** The transport could not send (§17.1.4). */
  | 'TRANSPORT'
  /** We cancelled the call (`cancel()`), or the caller cancelled an incoming call. */
  | 'CANCELLED'
  /** We answered 2xx and no ACK came within 64*T1 (§13.3.1.4): the dialog was BYEd. */
  | 'ACK_TIMEOUT'
  /** The dialog or call ended (BYE, CANCEL, close) before the operation completed. */
  | 'TERMINATED'
  /** Another offer/answer exchange is still in progress in this dialog (§14.1). */
  | 'REQUEST_PENDING'
  /** The user agent was closed. */
  | 'CLOSED';

/** A failed UA operation: `code`, and the SIP status (local ones: 408 timeout, 503 transport). */
export class SipError extends Error {
  constructor(
    readonly code: SipErrorCode,
    message: string,
    readonly status?: number,
    readonly response?: SipResponse,
  ) {
    super(message);
    this.name = 'SipError';
  }
}

/** Options of {@link UaCore.response}. */
export interface ResponseOptions {
  reason?: string;
  /** Our To tag; added when the request's To has none (§8.2.6.2), never to 100 Trying. */
  toTag?: string;
  headers?: { name: string; value: string }[];
  /** Adds our Contact (dialog-creating and target-refresh responses, §12.1.1). */
  contact?: boolean;
  /**
   * Copies the request's Record-Route lines, in order (§12.1.1: a response that creates a dialog
   * must carry them, so the caller learns the route set through Kamailio).
   */
  recordRoute?: boolean;
  /** An SDP body (Content-Type application/sdp). */
  sdp?: string;
}

/** Something that owns a dialog id and gets the in-dialog requests for it (§12.2.2). */
export interface DialogUsage {
  /** A request with our To tag (not ACK/CANCEL) that opened `tx`; the usage must answer it. */
  handleRequest(request: SipRequest, tx: ServerTransaction): void;
  /** An ACK for a 2xx (no transaction, §17.1.1.3). */
  handleAck(ack: SipRequest): void;
  /** A 2xx no transaction claimed (a late retransmission, §13.2.2.4): re-ACK it. */
  handleStrayResponse(response: SipResponse): void;
}

/** A pending INVITE server transaction's owner, told about a matching CANCEL (§9.2). */
export interface CancelTarget {
  handleCancel(cancel: SipRequest, cancelTx: NonInviteServerTransaction): void;
}

/** The UserAgent's services for calls and sessions. */
export interface UaCore {
  readonly clock: Clock;
  readonly logger: SipLogger;
  /** Timer values for end-to-end timing (T1, T2, 64*T1), unreliable case: 2xx retransmission, §9.1. */
  readonly timers: TimerValues;
  /** Our Contact header value. */
  readonly contact: string;
  /**
   * Sends a request through a new, started client transaction to the next hop (the outbound proxy).
   * Adds our top Via with a fresh branch unless `keepVia` (CANCEL reuses its INVITE's, §9.1).
   * The returned transaction's listeners must be attached synchronously (it starts immediately
   * but can only emit asynchronously).
   */
  sendRequest(request: SipRequest, options?: { keepVia?: boolean }): ClientTransaction;
  /** Sends an ACK for a 2xx outside any transaction; adds a Via once (resends reuse it). */
  sendAck(ack: SipRequest): void;
  /** A response to `request` (§8.2.6): buildResponse + To tag + Server, optional Contact and SDP. */
  response(request: SipRequest, status: number, options?: ResponseOptions): SipResponse;
  addDialog(id: string, usage: DialogUsage): void;
  /** Removes `id` only if it still maps to `usage`. */
  removeDialog(id: string, usage: DialogUsage): void;
  addCancelTarget(inviteTxKey: string, target: CancelTarget): void;
  removeCancelTarget(inviteTxKey: string, target: CancelTarget): void;
  /** Random delay helper for §14.1 glare back-off, ms. */
  random(): number;
}

/**
 * The UAS core's 2xx retransmission (§13.3.1.4): resend every T1, doubling up to T2, until
 * `stop()` (the ACK came); after 64*T1 without ACK call `onGiveUp` (the UAS then BYEs the dialog).
 * Runs over every transport, reliable or not: the ACK is end-to-end, and the 2xx may be lost on a
 * later UDP hop behind the proxy.
 */
export class SuccessRetransmitter {
  private readonly timers: TimerSet;
  private interval: number;

  constructor(
    clock: Clock,
    private readonly t: TimerValues,
    private readonly resend: () => void,
    private readonly onGiveUp: () => void,
  ) {
    this.timers = new TimerSet(clock);
    this.interval = t.t1;
  }

  /** Arms the retransmission and give-up timers (the first 2xx was sent by the caller). */
  start(): void {
    this.timers.set('retransmit', this.interval, () => this.tick());
    this.timers.set('give-up', 64 * this.t.t1, () => {
      this.timers.clearAll();
      this.onGiveUp();
    });
  }

  /** Stops both timers (idempotent). */
  stop(): void {
    this.timers.clearAll();
  }

  /** True until the ACK stopped it or it gave up. */
  get running(): boolean {
    return this.timers.size > 0;
  }

  private tick(): void {
    this.resend();
    this.interval = Math.min(2 * this.interval, this.t.t2);
    this.timers.set('retransmit', this.interval, () => this.tick());
  }
}

/**
 * The SDP body of a message (RFC 3264 offer/answer), when its Content-Type is application/sdp and
 * the body is not empty.
 */
export function sdpOf(message: SipMessage): string | undefined {
  if (message.body.length === 0) return undefined;
  const type = (getHeader(message, 'Content-Type') ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/sdp' ? message.body.toString('utf8') : undefined;
}

/**
 * True when the message's body, if any, is something the offer/answer code can use: empty, or
 * application/sdp (§8.2.3 says answer 415 otherwise).
 */
export function acceptableBody(message: SipMessage): boolean {
  return message.body.length === 0 || sdpOf(message) !== undefined;
}

/** Why a request is refused before any call or dialog sees it: a status and explaining headers. */
export interface Rejection {
  status: number;
  reason?: string;
  headers?: { name: string; value: string }[];
}

/**
 * The stateless UAS checks of RFC 3261 §8.2, in its order, for a request that is not an ACK:
 * Max-Forwards 0 → 483 (as a proxy would, §16.3; we are the last hop anyway); a method we do not
 * implement → 405 with Allow (§8.2.1); an unparseable Request-URI → 400, a scheme other than
 * sip/sips/tel → 416 (§8.2.2.1); then, except for CANCEL (§8.2.2.3), a Require option tag not in
 * `supported` → 420 with Unsupported, and a body other than SDP in INVITE/UPDATE → 415 with Accept
 * (§8.2.3). Dialog matching (481) and merged requests (482) need state: the UserAgent does those.
 * `allowed` is the method list (ALLOWED_METHODS, plus SUBSCRIBE when the UA serves event packages).
 *
 * @returns the rejection to send, or undefined when the request passes
 */
export function checkRequest(request: SipRequest, supported: readonly string[], allowed: readonly string[] = ALLOWED_METHODS): Rejection | undefined {
  const maxForwards = getHeader(request, 'Max-Forwards');
  if (maxForwards !== undefined && attempt(() => parseMaxForwards(maxForwards)) === 0) return { status: 483 };
  if (!allowed.includes(request.method)) {
    return { status: 405, headers: [{ name: 'Allow', value: allowed.join(', ') }] };
  }
  const scheme = attempt(() => parseUri(request.uri).scheme.toLowerCase());
  if (scheme === undefined) return { status: 400, reason: 'Bad Request - Malformed Request-URI' };
  if (!['sip', 'sips', 'tel'].includes(scheme)) return { status: 416 };
  if (request.method === 'CANCEL') return undefined;
  const unsupported = getHeaders(request, 'Require').filter((tag) => !supported.includes(tag.toLowerCase()));
  if (unsupported.length > 0) return { status: 420, headers: [{ name: 'Unsupported', value: unsupported.join(', ') }] };
  if ((request.method === 'INVITE' || request.method === 'UPDATE') && !acceptableBody(request)) {
    return { status: 415, headers: [{ name: 'Accept', value: ACCEPT }] };
  }
  return undefined;
}

function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
