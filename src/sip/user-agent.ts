/**
 * The user agent core the feature daemon runs (RFC 3261 §8, §12-§15): one SipTransport, the
 * transaction table, the dialog table, and the request validation every UAS does (§8.2) before a
 * request reaches a call or a session.
 *
 * Every request we originate goes to `outboundProxy` (Kamailio), in or out of dialogs: the daemon
 * talks to nothing else (the transport drops other peers). In-dialog requests still carry the
 * dialog's Route set (§12.2.1.1), which Kamailio's loose_route() follows.
 *
 * - incoming INVITE → `onInvite(handler)` gets a {@link ServerCall};
 * - `invite(options)` → {@link ClientCall};
 * - answered calls are {@link Session}s (BYE, re-INVITE, UPDATE, INFO);
 * - OPTIONS → 200 with Allow/Accept; other methods → 405 + Allow (§8.2.1); unknown dialog → 481;
 *   non-SIP Request-URI → 416 (§8.2.2.1); unsupported Require → 420 + Unsupported (§8.2.2.3);
 *   Max-Forwards 0 → 483; a body other than SDP in INVITE/UPDATE → 415 + Accept (§8.2.3);
 *   a merged request → 482 (§8.2.2.2).
 * - SUBSCRIBE for a package registered with `onSubscribe` → a {@link ServerSubscription}
 *   (RFC 6665, ua-subscription.ts); without any package SUBSCRIBE stays 405.
 */
import type { NameAddr, SipRequest, SipResponse } from './message.js';
import { addHeader, formatNameAddr, getHeader, getHeaders, parseNameAddr, sameHeaderName } from './headers.js';
import { parseUri } from './uri.js';
import { buildResponse } from './serialize.js';
import { Dialog, tagOf } from './dialog.js';
import { TransactionLayer } from './transaction-layer.js';
import type { ClientTransaction } from './transaction-client.js';
import type { InviteServerTransaction, NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import { TransactionState, cseqOf, newBranch, newTag, type TransactionChannel } from './transaction.js';
import { systemClock, timerValues, type Clock, type TimerConfig, type TimerValues } from './timers.js';
import { SipTransport, silentLogger, type Destination, type IncomingMessage, type SipLogger, type TransportProtocol } from './transport.js';
import { ACCEPT, ALLOW, SipError, checkRequest, type CancelTarget, type DialogUsage, type ResponseOptions, type UaCore } from './ua-core.js';
import { ServerCall, ServerCallState } from './ua-server-call.js';
import { ClientCall } from './ua-client-call.js';
import { Session } from './ua-session.js';
import { EventPackages, ServerSubscription, type EventPackageOptions, type SubscribeHandler } from './ua-subscription.js';

export { SipError, type SipErrorCode } from './ua-core.js';
export { ServerCall, ServerCallState } from './ua-server-call.js';
export { ClientCall, ClientCallState } from './ua-client-call.js';
export { Session, SessionState, type OfferHandler, type IncomingOffer, type SessionEndReason } from './ua-session.js';
export { ServerSubscription, SubscriptionState, type EventPackageOptions, type NotifyBody, type SubscribeHandler, type SubscriptionEndReason } from './ua-subscription.js';

/** Options of {@link UserAgent}. */
export interface UserAgentOptions {
  transport: SipTransport;
  /** Kamailio: where every request goes. `sip:host:port;transport=tcp` or an explicit destination. */
  outboundProxy: Destination | string;
  /** Host and port we advertise in Via and Contact; default the transport's bound address. */
  host?: string;
  port?: number;
  /** User part of our Contact URI (e.g. `daemon`); default none. */
  contactUser?: string;
  clock?: Clock;
  logger?: SipLogger;
  /** T1/T2/T4 (ms), default RFC 3261 Table 4. */
  timers?: Partial<TimerConfig>;
  /** User-Agent / Server header value; default `pbxctl`. */
  userAgentName?: string;
  /** Option tags we support (Require check, Supported header); default none. */
  supported?: string[];
  /** Random source in [0, 1) for back-offs; default Math.random. */
  random?: () => number;
}

/** Options of {@link UserAgent.invite}. */
export interface InviteOptions {
  requestUri: string;
  /** Our identity, name-addr text (`"Sales" <sip:1000@pbx.example>`) or parsed; a tag is added. */
  from: string | NameAddr;
  to: string | NameAddr;
  /** Default: random@host. */
  callId?: string;
  /** The SDP offer. */
  sdp: string;
  headers?: { name: string; value: string }[];
  /** CANCEL when no final response came within this many ms; the call fails with TIMEOUT (408). */
  timeoutMs?: number;
}

/** Options of {@link UserAgent.request}: an out-of-dialog non-INVITE request (OPTIONS ping, INFO...). */
export interface RequestOptions {
  method: string;
  requestUri: string;
  from: string | NameAddr;
  to: string | NameAddr;
  headers?: { name: string; value: string }[];
  body?: string | Buffer;
  contentType?: string;
}

/** Handler for new incoming calls. */
export type InviteHandler = (call: ServerCall) => void;

/** The UA core (see module comment). `close()` releases every timer, listener and the transport. */
export class UserAgent implements UaCore {
  readonly clock: Clock;
  readonly logger: SipLogger;
  readonly timers: TimerValues;
  readonly contact: string;
  private readonly transport: SipTransport;
  private readonly layer: TransactionLayer;
  private readonly proxy: Destination;
  private readonly host: string;
  private readonly port: number;
  private readonly name: string;
  private readonly supported: string[];
  private readonly rand: () => number;
  private readonly dialogs = new Map<string, DialogUsage>();
  private readonly cancelTargets = new Map<string, CancelTarget>();
  private readonly calls = new Set<ServerCall | ClientCall>();
  /** Out-of-dialog INVITEs being answered, by Call-ID + From tag + CSeq, for §8.2.2.2. */
  private readonly merged = new Map<string, string>();
  private readonly inflight = new Set<Promise<void>>();
  private inviteHandler: InviteHandler | undefined;
  private readonly packages = new EventPackages(this);
  private closed = false;
  private readonly onMessage = (incoming: IncomingMessage): void => this.receive(incoming);

  constructor(options: UserAgentOptions) {
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.timers = timerValues(options.timers, false);
    this.layer = new TransactionLayer({ clock: this.clock, timers: options.timers });
    this.proxy = typeof options.outboundProxy === 'string' ? destinationOf(options.outboundProxy) : options.outboundProxy;
    if (!this.transport.protocols.includes(this.proxy.protocol)) {
      throw new Error(`outbound proxy needs ${this.proxy.protocol}, the transport has ${this.transport.protocols.join('/')}`);
    }
    this.host = options.host ?? this.transport.local.host;
    this.port = options.port ?? this.transport.local.port;
    this.name = options.userAgentName ?? 'pbxctl';
    this.supported = (options.supported ?? []).map((t) => t.toLowerCase());
    this.rand = options.random ?? Math.random;
    const user = options.contactUser === undefined ? '' : `${options.contactUser}@`;
    const transportParam = this.proxy.protocol === 'TCP' ? ';transport=tcp' : '';
    this.contact = `<sip:${user}${hostForUri(this.host)}:${this.port}${transportParam}>`;
    this.transport.on('message', this.onMessage);
  }

  /** Sets the handler of new incoming INVITEs; without one they are answered 480. */
  onInvite(handler: InviteHandler): void {
    this.inviteHandler = handler;
  }

  /**
   * Serves SUBSCRIBE for event package `name` (e.g. `message-summary`, RFC 3842) with `handler`;
   * from then on SUBSCRIBE is in Allow. See ua-subscription.ts.
   * @throws Error for inconsistent expiry options (a bug)
   */
  onSubscribe(name: string, options: EventPackageOptions, handler: SubscribeHandler): void {
    this.packages.on(name, options, handler);
  }

  /** Live dialogs, calls and transactions (for metrics and leak checks in tests). */
  get size(): { dialogs: number; calls: number; clients: number; servers: number } {
    return { dialogs: this.dialogs.size, calls: this.calls.size, ...this.layer.size };
  }

  /**
   * Places a call (§13.2.1): INVITE with a fresh From tag, Call-ID and CSeq, our Contact, Allow and
   * the SDP offer, sent to the outbound proxy.
   * @throws Error after close(), or for an unparseable from/to (a bug in the caller)
   */
  invite(options: InviteOptions): ClientCall {
    this.assertOpen();
    const request = this.outOfDialog('INVITE', options, options.callId);
    addHeader(request, 'Contact', this.contact);
    addHeader(request, 'Allow', ALLOW);
    for (const h of options.headers ?? []) addHeader(request, h.name, h.value);
    setBody(request, options.sdp, ACCEPT);
    const call = new ClientCall(this, request, options.sdp, options.timeoutMs);
    this.track(call);
    return call;
  }

  /**
   * Sends an out-of-dialog non-INVITE request and resolves with its final response (any status).
   * @throws SipError `TIMEOUT` (Timer F, 408) or `TRANSPORT` (503); Error for INVITE/ACK/CANCEL
   */
  request(options: RequestOptions): Promise<SipResponse> {
    this.assertOpen();
    if (['INVITE', 'ACK', 'CANCEL'].includes(options.method)) throw new Error(`use invite() for ${options.method}`);
    const request = this.outOfDialog(options.method, options);
    for (const h of options.headers ?? []) addHeader(request, h.name, h.value);
    if (options.body !== undefined) setBody(request, options.body, options.contentType ?? 'text/plain');
    return new Promise((resolve, reject) => {
      const tx = this.sendRequest(request);
      tx.on('response', (r) => r.status >= 200 && resolve(r));
      tx.once('timeout', () => reject(new SipError('TIMEOUT', `${options.method} timed out`, 408)));
      tx.once('transportError', (e) => reject(new SipError('TRANSPORT', e.message, 503)));
      tx.once('terminated', (reason) => reason === 'aborted' && reject(new SipError('CLOSED', 'closed')));
    });
  }

  /**
   * Stops everything: ringing calls get 503, outgoing ones are CANCELed, sessions are BYEd (sent,
   * not awaited), then every transaction and timer is stopped and the transport closed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const call of [...this.calls]) call.shutdown();
    for (const usage of [...this.dialogs.values()]) {
      if (usage instanceof Session) void usage.hangup('closed');
      else if (usage instanceof ServerSubscription) usage.close();
    }
    await Promise.allSettled([...this.inflight]);
    this.layer.close();
    this.dialogs.clear();
    this.cancelTargets.clear();
    this.merged.clear();
    this.transport.off('message', this.onMessage);
    await this.transport.close();
  }

  // --- UaCore ----------------------------------------------------------------------------------

  /** @internal */
  sendRequest(request: SipRequest, options: { keepVia?: boolean } = {}): ClientTransaction {
    if (!options.keepVia) addHeader(request, 'Via', this.via(), 'first');
    const tx = this.layer.createClient(request, this.channel((m) => this.transport.sendRequest(m as SipRequest, this.proxy)));
    tx.start();
    return tx;
  }

  /** @internal */
  sendAck(ack: SipRequest): void {
    if (getHeader(ack, 'Via') === undefined) addHeader(ack, 'Via', this.via(), 'first');
    void this.send(this.transport.sendRequest(ack, this.proxy)).catch((err: unknown) =>
      this.logger.warn('ACK could not be sent', { error: String(err) }),
    );
  }

  /** @internal */
  response(request: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
    const headers = [{ name: 'Server', value: this.name }, ...(options.headers ?? [])];
    if (options.recordRoute) {
      for (const h of request.headers) if (sameHeaderName(h.name, 'Record-Route')) headers.push({ name: 'Record-Route', value: h.value });
    }
    if (options.contact) headers.push({ name: 'Contact', value: this.contact });
    if (this.supported.length > 0 && status >= 200 && status < 300) headers.push({ name: 'Supported', value: this.supported.join(', ') });
    const toTag = status > 100 ? options.toTag : undefined;
    const response = buildResponse(request, status, options.reason, headers, toTag);
    if (options.sdp !== undefined) setBody(response, options.sdp, ACCEPT);
    return response;
  }

  /** @internal */
  addDialog(id: string, usage: DialogUsage): void {
    this.dialogs.set(id, usage);
  }

  /** @internal */
  removeDialog(id: string, usage: DialogUsage): void {
    if (this.dialogs.get(id) === usage) this.dialogs.delete(id);
  }

  /** @internal */
  addCancelTarget(key: string, target: CancelTarget): void {
    this.cancelTargets.set(key, target);
  }

  /** @internal */
  removeCancelTarget(key: string, target: CancelTarget): void {
    if (this.cancelTargets.get(key) === target) this.cancelTargets.delete(key);
  }

  /** @internal */
  random(): number {
    return this.rand();
  }

  // --- receiving ---------------------------------------------------------------------------------

  private receive(incoming: IncomingMessage): void {
    if (this.closed) return;
    const { message } = incoming;
    if (message.kind === 'response') {
      if (!this.layer.receiveResponse(message)) this.strayResponse(message);
      return;
    }
    const context = { protocol: incoming.protocol, ...(incoming.connectionId === undefined ? {} : { connectionId: incoming.connectionId }) };
    const channel = this.channel((m) => this.transport.sendResponse(m as SipResponse, context), incoming.protocol);
    const disposition = this.layer.receiveRequest(message, channel);
    if (disposition.type === 'ack') {
      const id = Dialog.idOfRequest(message);
      if (id !== undefined) this.dialogs.get(id)?.handleAck(message);
    } else if (disposition.type === 'new') {
      const tx = disposition.transaction;
      try {
        this.handleRequest(message, tx);
      } catch (err) {
        // A bug (or a header we failed to anticipate): answer 500 so the transaction ends, and log.
        this.logger.error('SIP request handling failed', { method: message.method, error: err instanceof Error ? err.stack : String(err) });
        if (tx.finalResponse === undefined && tx.state !== TransactionState.Terminated) tx.respond(this.response(message, 500, { toTag: newTag() }));
      }
    }
  }

  /** §8.2 checks, then CANCEL matching, in-dialog routing or out-of-dialog handling. */
  private handleRequest(request: SipRequest, tx: ServerTransaction): void {
    const reply = (status: number, options: ResponseOptions = {}): void => {
      tx.respond(this.response(request, status, { toTag: newTag(), ...options }));
    };
    const rejection = checkRequest(request, this.supported, this.packages.methods);
    if (rejection !== undefined) return reply(rejection.status, rejection);
    if (request.method === 'CANCEL') {
      const invite = this.layer.findInviteForCancel(request);
      const target = invite === undefined ? undefined : this.cancelTargets.get(invite.key);
      if (target === undefined) return reply(481);
      return target.handleCancel(request, tx as Parameters<CancelTarget['handleCancel']>[1]);
    }
    if (tagOf(request, 'To') !== undefined) {
      const id = Dialog.idOfRequest(request);
      const usage = id === undefined ? undefined : this.dialogs.get(id);
      if (usage === undefined) return reply(481);
      return usage.handleRequest(request, tx);
    }
    switch (request.method) {
      case 'INVITE':
        return this.newInvite(request, tx as InviteServerTransaction, reply);
      case 'SUBSCRIBE':
        return this.packages.receive(request, tx as NonInviteServerTransaction);
      case 'OPTIONS': {
        const headers = [{ name: 'Allow', value: this.packages.allow }, { name: 'Accept', value: ACCEPT }];
        if (this.supported.length > 0) headers.push({ name: 'Supported', value: this.supported.join(', ') });
        return reply(200, { headers });
      }
      default:
        return reply(481); // BYE, UPDATE, INFO only exist inside a dialog
    }
  }

  private newInvite(request: SipRequest, tx: InviteServerTransaction, reply: (status: number, o?: ResponseOptions) => void): void {
    const fromTag = tagOf(request, 'From');
    const contact = getHeaders(request, 'Contact')[0];
    const to = getHeader(request, 'To');
    if (
      fromTag === undefined ||
      contact === undefined ||
      safe(() => parseNameAddr(contact)) === undefined ||
      to === undefined ||
      safe(() => parseNameAddr(to)) === undefined
    ) {
      return reply(400, { reason: 'Bad Request - Missing From tag, To or Contact' });
    }
    const mergeKey = `${getHeader(request, 'Call-ID')} ${fromTag} ${cseqOf(request)?.seq}`;
    const other = this.merged.get(mergeKey);
    if (other !== undefined && other !== tx.key) return reply(482); // §8.2.2.2: same request via another path
    if (this.inviteHandler === undefined) return reply(480);
    const call = new ServerCall(this, tx);
    this.merged.set(mergeKey, tx.key);
    call.once('end', () => this.merged.delete(mergeKey));
    this.track(call);
    try {
      this.inviteHandler(call);
    } catch (err) {
      this.logger.error('INVITE handler threw', { callId: call.callId, error: String(err) });
      if (call.state === ServerCallState.Proceeding || call.state === ServerCallState.Early) call.reject(500);
    }
  }

  private strayResponse(response: SipResponse): void {
    const cseq = cseqOf(response);
    if (cseq?.method !== 'INVITE' || response.status < 200 || response.status >= 300) return;
    const id = Dialog.idOfResponse(response);
    if (id !== undefined) this.dialogs.get(id)?.handleStrayResponse(response);
  }

  // --- helpers -----------------------------------------------------------------------------------

  private outOfDialog(method: string, options: Pick<InviteOptions, 'requestUri' | 'from' | 'to'>, callId?: string): SipRequest {
    const from = typeof options.from === 'string' ? parseNameAddr(options.from, 'From') : options.from;
    const to = typeof options.to === 'string' ? parseNameAddr(options.to, 'To') : options.to;
    const fromParams = new Map(from.params).set('tag', newTag());
    const toParams = new Map(to.params);
    toParams.delete('tag');
    const seq = 1 + Math.floor(this.rand() * 0xffff);
    parseUri(options.requestUri); // throws on a malformed URI: a bug in the caller
    return {
      kind: 'request',
      method,
      uri: options.requestUri,
      version: 'SIP/2.0',
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: formatNameAddr({ ...from, params: fromParams }) },
        { name: 'To', value: formatNameAddr({ ...to, params: toParams }) },
        { name: 'Call-ID', value: callId ?? `${newBranch().slice(7)}${newTag()}@${this.host}` },
        { name: 'CSeq', value: `${seq} ${method}` },
        { name: 'User-Agent', value: this.name },
      ],
      body: Buffer.alloc(0),
    };
  }

  private via(): string {
    return `SIP/2.0/${this.proxy.protocol} ${hostForUri(this.host)}:${this.port};branch=${newBranch()};rport`;
  }

  private channel(send: (m: SipRequest | SipResponse) => Promise<void>, protocol: TransportProtocol = this.proxy.protocol): TransactionChannel {
    return { reliable: SipTransport.reliable(protocol), send: (m) => this.send(send(m as SipRequest | SipResponse)) };
  }

  /** Tracks a send so close() can wait for it to reach the socket. */
  private send(sending: Promise<void>): Promise<void> {
    this.inflight.add(sending);
    const done = (): void => void this.inflight.delete(sending);
    sending.then(done, done);
    return sending;
  }

  private track(call: ServerCall | ClientCall): void {
    this.calls.add(call);
    const forget = (): void => void this.calls.delete(call);
    if (call instanceof ServerCall) call.once('end', forget);
    else {
      call.once('answered', forget);
      call.once('failed', forget);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the user agent is closed');
  }
}

/** Parses `sip:host:port;transport=tcp` into a destination (UDP unless `transport=tcp`). */
function destinationOf(uri: string): Destination {
  const parsed = parseUri(uri);
  const transport = (parsed.params.get('transport') ?? 'udp').toUpperCase();
  if (transport !== 'UDP' && transport !== 'TCP') throw new Error(`outbound proxy transport ${transport} is not supported`);
  return { host: parsed.host.replace(/^\[(.*)\]$/, '$1'), port: parsed.port ?? 5060, protocol: transport };
}

function hostForUri(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function setBody(message: SipRequest | SipResponse, body: string | Buffer, contentType: string): void {
  message.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (message.body.length > 0) addHeader(message, 'Content-Type', contentType);
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
