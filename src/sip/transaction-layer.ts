/**
 * The transaction table (RFC 3261 §17.1.3, §17.2.3): creates transactions, matches every incoming
 * message to one, and forgets a transaction as soon as it terminates. It decides nothing about
 * what a request means; it only tells the TU (the user agent core) what is new and what was
 * absorbed.
 */
import type { SipRequest, SipResponse } from './message.js';
import type { Clock, TimerConfig } from './timers.js';
import { InviteClientTransaction, NonInviteClientTransaction, type ClientTransaction } from './transaction-client.js';
import { InviteServerTransaction, NonInviteServerTransaction, type ServerTransaction } from './transaction-server.js';
import { clientTransactionKey, serverTransactionKey, type TransactionChannel } from './transaction.js';

/** What became of an incoming request, for the TU. */
export type RequestDisposition =
  /** A new request (not ACK): a server transaction was created and started; the TU must answer it. */
  | { type: 'new'; transaction: ServerTransaction }
  /** A retransmission, or the ACK for a non-2xx final response: handled by its transaction. */
  | { type: 'absorbed' }
  /** An ACK no transaction claims (the ACK for a 2xx, §13.2.2.4 / RFC 6026): the TU's (dialog's). */
  | { type: 'ack' }
  /** No top Via or CSeq: the request cannot be matched or answered; drop it. */
  | { type: 'invalid' };

/** Options of the table: the clock and base timer values every transaction gets. */
export interface TransactionLayerOptions {
  clock: Clock;
  timers?: Partial<TimerConfig>;
}

/**
 * Creates and matches transactions. Terminated transactions leave the table on their `terminated`
 * event; `close()` aborts every live one.
 */
export class TransactionLayer {
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();

  constructor(private readonly options: TransactionLayerOptions) {}

  /** Live transactions (for leak checks and stats). */
  get size(): { clients: number; servers: number } {
    return { clients: this.clients.size, servers: this.servers.size };
  }

  /**
   * Creates and registers the client transaction for `request` (which already carries our top Via
   * with a fresh branch), without starting it: the caller attaches listeners, then calls `start()`.
   *
   * @throws Error for an ACK (never a transaction, §17.1.1.3), a request without branch/CSeq, or a
   *   branch already in use (a bug: branches are unique per request)
   */
  createClient(request: SipRequest, channel: TransactionChannel): ClientTransaction {
    const opts = { channel, clock: this.options.clock, timers: this.options.timers };
    const tx =
      request.method === 'INVITE'
        ? new InviteClientTransaction(request, opts)
        : new NonInviteClientTransaction(request, opts);
    if (this.clients.has(tx.key)) throw new Error(`client transaction ${tx.key} already exists`);
    this.clients.set(tx.key, tx);
    tx.once('terminated', () => {
      if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
    });
    return tx;
  }

  /**
   * Matches a response to its client transaction (§17.1.3: top Via branch + CSeq method) and feeds
   * it in. @returns false when no transaction matched (a stray response; a late 2xx is the UAC
   * core's business, §13.2.2.4)
   */
  receiveResponse(response: SipResponse): boolean {
    const key = clientTransactionKey(response);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx === undefined) return false;
    tx.receiveResponse(response);
    return true;
  }

  /**
   * Matches a request to a server transaction (§17.2.3). A new non-ACK request gets a started
   * server transaction answering through `channel`; retransmissions and non-2xx ACKs are absorbed.
   */
  receiveRequest(request: SipRequest, channel: TransactionChannel): RequestDisposition {
    const key = serverTransactionKey(request);
    if (key === undefined) return { type: 'invalid' };
    const existing = this.servers.get(key);
    if (request.method === 'ACK') {
      if (existing instanceof InviteServerTransaction && existing.receiveAck(request)) return { type: 'absorbed' };
      return { type: 'ack' };
    }
    if (existing !== undefined) {
      existing.receiveRequest(request);
      return { type: 'absorbed' };
    }
    const opts = { channel, clock: this.options.clock, timers: this.options.timers };
    const tx =
      request.method === 'INVITE'
        ? new InviteServerTransaction(request, opts)
        : new NonInviteServerTransaction(request, opts);
    this.servers.set(key, tx);
    tx.once('terminated', () => {
      if (this.servers.get(key) === tx) this.servers.delete(key);
    });
    if (tx instanceof InviteServerTransaction) tx.start();
    return { type: 'new', transaction: tx };
  }

  /**
   * The INVITE server transaction a CANCEL targets (§9.2: same branch and sent-by, method INVITE),
   * if it is still live.
   */
  findInviteForCancel(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = serverTransactionKey(cancel, 'INVITE');
    const tx = key === undefined ? undefined : this.servers.get(key);
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  /** Aborts every live transaction (timers stopped, `terminated` emitted with reason `aborted`). */
  close(): void {
    for (const tx of [...this.clients.values(), ...this.servers.values()]) tx.abort();
    this.clients.clear();
    this.servers.clear();
  }
}
