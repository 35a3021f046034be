/**
 * The common part of the RFC 3261 §17 transaction layer: states, the checked-transition base class
 * the four transaction kinds extend (transaction-client.ts, transaction-server.ts), the channel a
 * transaction sends through, and the identifiers transactions are matched by (§17.1.3, §17.2.3).
 * The matching table itself is transaction-layer.ts.
 *
 * A transaction never parses more than it needs (top Via, CSeq), never touches sockets (the channel
 * does), and owns all its timers in a {@link TimerSet}, so terminating it leaks nothing.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { SipMessage, SipRequest, SipResponse, Via, CSeq } from './message.js';
import { getHeader, parseCSeq, parseNameAddr, parseVia } from './headers.js';
import { TimerSet, timerValues, type Clock, type TimerConfig, type TimerValues } from './timers.js';

/** The magic cookie that marks an RFC 3261 branch (§8.1.1.7); other branches are RFC 2543 style. */
export const MAGIC_COOKIE = 'z9hG4bK';

/**
 * Every state of the four transaction machines (RFC 3261 Figures 5-8; Accepted from RFC 6026).
 * Which states a kind uses, and which transitions are legal, is in each class's transition table.
 */
export enum TransactionState {
  Calling = 'Calling',
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Confirmed = 'Confirmed',
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

/** The four machines of §17: INVITE/non-INVITE × client/server. */
export type TransactionKind = 'invite-client' | 'non-invite-client' | 'invite-server' | 'non-invite-server';

/**
 * Where a transaction's messages go. Client transactions get a channel bound to the next hop;
 * server transactions one bound to the request's source (responses routed per §18.2.2).
 * `send` resolves when the transport accepted the message and rejects on a transport error (§17.1.4,
 * §17.2.4), which terminates the transaction.
 */
export interface TransactionChannel {
  /** True for TCP: no retransmissions, and the "wait for retransmissions" timers are 0 (§17). */
  readonly reliable: boolean;
  send(message: SipMessage): Promise<void>;
}

/** Why a transaction ended, as reported by the `terminated` event. */
export type TerminationReason = 'normal' | 'timeout' | 'transport-error' | 'aborted';

/** Events every transaction emits (node:events, typed). */
export interface TransactionEvents {
  /** After every state change, with the previous state. */
  state: [to: TransactionState, from: TransactionState];
  /** Client only: a response for the TU (1xx, the first non-2xx final, every 2xx). §17.1.1.2, RFC 6026 */
  response: [response: SipResponse];
  /** Timer B/F (client: no final response) or H (INVITE server: no ACK). */
  timeout: [];
  /** The transport failed to send (§17.1.4 / §17.2.4); followed by `terminated`. */
  transportError: [error: Error];
  /** Once, when the state becomes Terminated; all timers are stopped by then. */
  terminated: [reason: TerminationReason];
}

/** What every transaction kind needs to run. */
export interface TransactionOptions {
  channel: TransactionChannel;
  clock: Clock;
  /** T1/T2/T4 (ms); defaults to RFC 3261 Table 4. */
  timers?: Partial<TimerConfig>;
}

/**
 * The base of the four machines: the current state, a transition table checked on every move
 * (an illegal move is a bug and throws), the timers and the channel.
 */
export abstract class Transaction extends EventEmitter<TransactionEvents> {
  abstract readonly kind: TransactionKind;
  /** The request that created the transaction (for a client: as sent, with our Via). */
  readonly request: SipRequest;
  /** The matching key (transaction-layer.ts) computed from `request`. */
  readonly key: string;
  protected readonly channel: TransactionChannel;
  protected readonly timers: TimerSet;
  /** §17 timer values for this transaction's transport (reliable or not), ms. */
  protected readonly t: TimerValues;
  private current: TransactionState;
  private terminationReason: TerminationReason | undefined;

  protected constructor(
    request: SipRequest,
    key: string,
    initial: TransactionState,
    private readonly transitions: ReadonlyMap<TransactionState, readonly TransactionState[]>,
    options: TransactionOptions,
  ) {
    super();
    this.request = request;
    this.key = key;
    this.current = initial;
    this.channel = options.channel;
    this.timers = new TimerSet(options.clock);
    this.t = timerValues(options.timers, options.channel.reliable);
  }

  /** The current state (Terminated once ended). */
  get state(): TransactionState {
    return this.current;
  }

  /** Why the transaction ended, once it is Terminated. */
  get reason(): TerminationReason | undefined {
    return this.terminationReason;
  }

  /** True when the channel is reliable (TCP). */
  get reliable(): boolean {
    return this.channel.reliable;
  }

  /**
   * Stops the transaction now (e.g. the UA closes, or §9.1: the INVITE client gives up 64*T1 after a
   * CANCEL). Idempotent; emits `terminated` with reason `aborted` the first time.
   */
  abort(): void {
    if (this.current !== TransactionState.Terminated) this.terminate('aborted');
  }

  /**
   * Moves to `to`, after checking the transition table.
   * @throws Error when the transition is not in the table: a bug in the machine or its caller.
   */
  protected transition(to: TransactionState): void {
    const from = this.current;
    if (!(this.transitions.get(from) ?? []).includes(to)) {
      throw new Error(`${this.kind} transaction ${this.key}: illegal transition ${from} -> ${to}`);
    }
    this.current = to;
    this.emit('state', to, from);
  }

  /** Enters Terminated: stops every timer, then emits `terminated` (once). */
  protected terminate(reason: TerminationReason): void {
    if (this.current === TransactionState.Terminated) return;
    this.timers.clearAll();
    this.terminationReason = reason;
    this.transition(TransactionState.Terminated);
    this.emit('terminated', reason);
  }

  /**
   * Sends through the channel; a failure is a transport error (§17.1.4 / §17.2.4): the TU is told
   * and the transaction terminates. Sending never throws synchronously.
   */
  protected send(message: SipMessage): void {
    let sent: Promise<void>;
    try {
      sent = this.channel.send(message);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.catch((err: unknown) => {
      if (this.current === TransactionState.Terminated) return;
      this.emit('transportError', err instanceof Error ? err : new Error(String(err)));
      this.terminate('transport-error');
    });
  }
}

/** Builds a transition table from `[from, [to...]]` pairs; Terminated is reachable from everywhere. */
export function transitionTable(
  entries: [TransactionState, TransactionState[]][],
): ReadonlyMap<TransactionState, readonly TransactionState[]> {
  return new Map(entries.map(([from, to]) => [from, [...to, TransactionState.Terminated]]));
}

/** A fresh RFC 3261 branch: the magic cookie plus 64 random bits (unique in space and time, §8.1.1.7). */
export function newBranch(): string {
  return MAGIC_COOKIE + randomBytes(8).toString('hex');
}

/** A fresh From/To tag (§19.3: at least 32 bits of randomness). */
export function newTag(): string {
  return randomBytes(6).toString('hex');
}

/** The top (first) Via of a message, or undefined when it has none or it does not parse. */
export function topVia(message: SipMessage): Via | undefined {
  const raw = getHeader(message, 'Via');
  if (raw === undefined) return undefined;
  try {
    return parseVia(raw)[0];
  } catch {
    return undefined;
  }
}

/** The CSeq of a message, or undefined when missing/unparseable. */
export function cseqOf(message: SipMessage): CSeq | undefined {
  const raw = getHeader(message, 'CSeq');
  if (raw === undefined) return undefined;
  try {
    return parseCSeq(raw);
  } catch {
    return undefined;
  }
}

/** `host:port` of a Via's sent-by, with the transport's default port filled in (5060; §18.2.2). */
export function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? 5060}`;
}


/**
 * The client-transaction key of a request we send or a response we receive (§17.1.3): the top Via
 * branch plus the CSeq method (the method is needed because a CANCEL shares its INVITE's branch).
 * Undefined when the message has no top Via branch or CSeq: it cannot match any transaction.
 */
export function clientTransactionKey(message: SipMessage): string | undefined {
  const branch = topVia(message)?.params.get('branch');
  const cseq = cseqOf(message);
  if (!branch || cseq === undefined) return undefined;
  return `c ${branch} ${cseq.method}`;
}

/**
 * The server-transaction key of a received request (§17.2.3): with an RFC 3261 branch, the branch,
 * the top Via sent-by and the method, where ACK counts as INVITE (an ACK for a non-2xx carries the
 * INVITE's branch). `asMethod` overrides the method, e.g. `INVITE` to find the transaction a CANCEL
 * cancels (§9.2).
 *
 * Without the magic cookie (RFC 2543 peers) it falls back to Request-URI, Call-ID, From tag, CSeq
 * number and the raw top Via — a simplification of §17.2.3 that ignores the To tag, which is enough
 * to absorb retransmissions; the daemon's only peer (Kamailio) always sends RFC 3261 branches.
 * Undefined when the request lacks a Via or CSeq.
 */
export function serverTransactionKey(request: SipRequest, asMethod?: string): string | undefined {
  const via = topVia(request);
  const cseq = cseqOf(request);
  if (via === undefined || cseq === undefined) return undefined;
  const method = asMethod ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  const branch = via.params.get('branch');
  if (branch && branch.startsWith(MAGIC_COOKIE)) return `s ${branch} ${sentBy(via)} ${method}`;
  const fromTag = fromTagOf(request) ?? '';
  const callId = getHeader(request, 'Call-ID') ?? '';
  return `s2543 ${request.uri} ${callId} ${fromTag} ${cseq.seq} ${getHeader(request, 'Via') ?? ''} ${method}`;
}

/** The `tag` parameter of the From header, if any. */
function fromTagOf(message: SipMessage): string | undefined {
  const raw = getHeader(message, 'From');
  if (raw === undefined) return undefined;
  try {
    return parseNameAddr(raw).params.get('tag') ?? undefined;
  } catch {
    return undefined;
  }
}
