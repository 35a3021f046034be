/**
 * SIP over UDP and TCP on one address and port (RFC 3261 §18), for the feature daemon behind its
 * one trusted next hop (Kamailio).
 *
 * - Receiving (§18.2.1, RFC 3581): the top Via of every request gets `received` (and `rport` when
 *   the peer asked for it), so responses find the way back through NAT or a proxy's other socket.
 * - Responses go per §18.2.2: over the TCP connection the request came on while it is open (else a
 *   new connection to `received` + sent-by port); over UDP to `maddr`, else `received`, else the
 *   sent-by host, at the `rport` port when present, else the sent-by port (default 5060).
 * - Only `trustedPeers` are listened to; everything else is counted and dropped unanswered, so
 *   scanners learn nothing. Nothing a peer sends can throw out of this module: parse errors are
 *   answered (400/505 when enough was parsed) or dropped, and exceptions in the message handler are
 *   caught, counted and logged.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import type { SipMessage, SipRequest, SipResponse } from './message.js';
import { parseMessage, SipParseError } from './parse.js';
import { buildResponse, serializeMessage } from './serialize.js';
import { SipStreamFramer } from './stream-framer.js';
import { topVia } from './transaction.js';
import { TrustedPeers, bindUdp, listenTcp, normalizeIp, stampReceived } from './transport-edge.js';

/** The transports implemented; `reliable` is true for TCP only (§17 timers, §18). */
export type TransportProtocol = 'UDP' | 'TCP';

export { stampReceived } from './transport-edge.js';

/** An IP address (or host name) and port. */
export interface Endpoint {
  host: string;
  port: number;
}

/** Where a request is sent: an address and the transport to reach it with. */
export interface Destination extends Endpoint {
  protocol: TransportProtocol;
}

/** Leveled logging with structured fields; the daemon passes its own, tests a silent one. */
export interface SipLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that discards everything. */
export const silentLogger: SipLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A message received from a trusted peer, requests already stamped with received/rport. */
export interface IncomingMessage {
  message: SipMessage;
  protocol: TransportProtocol;
  source: Endpoint;
  /** The TCP connection it arrived on (responses go back over it, §18.2.2). */
  connectionId?: number;
}

/** What {@link SipTransport.sendResponse} needs from the request's arrival. */
export interface ResponseContext {
  protocol: TransportProtocol;
  connectionId?: number;
}

/** Counters (monotonic) for metrics and tests. */
export interface TransportStats {
  /** Messages (datagrams or framed TCP messages) from trusted peers, parseable or not. */
  received: number;
  sent: number;
  /** Messages dropped after parsing: unusable (no Via), handler exceptions, send failures. */
  dropped: number;
  parseErrors: number;
  /** Datagrams and TCP connections from peers not in `trustedPeers`, ignored. */
  untrusted: number;
}

/** Options of {@link SipTransport.listen}. */
export interface TransportOptions {
  /** Address to bind, e.g. `127.0.0.1`. */
  host: string;
  /** Port for both UDP and TCP; 0 (default) picks a free ephemeral port common to both. */
  port?: number;
  /** Default both. */
  protocols?: TransportProtocol[];
  /**
   * Peers to talk to: `host:port` (UDP: that source exactly; TCP: that host, as TCP source ports are
   * ephemeral) or `host` (any port). Host names are resolved once at listen time. Undefined trusts
   * everyone (tests and development only).
   */
  trustedPeers?: string[];
  logger?: SipLogger;
  /** Close TCP connections idle this long, ms; default 600 000 (10 min). */
  tcpIdleTimeoutMs?: number;
  /** Give up connecting after this long, ms; default 10 000. */
  tcpConnectTimeoutMs?: number;
  /** Refuse inbound TCP connections beyond this many; default 256. */
  maxConnections?: number;
}

/** Events of {@link SipTransport}. */
export interface TransportEvents {
  message: [incoming: IncomingMessage];
}

interface Connection {
  id: number;
  socket: net.Socket;
  framer: SipStreamFramer;
  remote: string;
}

const MAX_UDP_PAYLOAD = 65_507;

/** `host:port` key of an endpoint, IPv4-mapped IPv6 addresses unwrapped. */
function keyOf(host: string, port: number): string {
  return `${normalizeIp(host)}:${port}`;
}

/**
 * UDP and TCP SIP transport bound to one address/port. Create with {@link SipTransport.listen};
 * subscribe to `message`; `close()` releases every socket.
 */
export class SipTransport extends EventEmitter<TransportEvents> {
  readonly stats: TransportStats = { received: 0, sent: 0, dropped: 0, parseErrors: 0, untrusted: 0 };
  private udp: dgram.Socket | undefined;
  private server: net.Server | undefined;
  private readonly connections = new Map<number, Connection>();
  private readonly byRemote = new Map<string, number>();
  private readonly connecting = new Map<string, Promise<Connection>>();
  private nextConnectionId = 1;
  private readonly logger: SipLogger;
  private readonly loggedUntrusted = new Set<string>();
  private closed = false;

  private constructor(
    readonly local: Endpoint,
    private readonly trust: TrustedPeers | undefined,
    private readonly options: TransportOptions,
  ) {
    super();
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Binds the sockets. With port 0, UDP binds first and TCP takes the same port (retried with a new
   * port if that is taken for TCP).
   * @throws the socket error (e.g. EADDRINUSE) when the port cannot be bound
   */
  static async listen(options: TransportOptions): Promise<SipTransport> {
    const protocols = options.protocols ?? ['UDP', 'TCP'];
    if (protocols.length === 0) throw new Error('SipTransport needs at least one protocol');
    const trust = options.trustedPeers === undefined ? undefined : await TrustedPeers.resolve(options.trustedPeers);
    for (let attempt = 0; ; attempt++) {
      const requested = options.port ?? 0;
      let udp: dgram.Socket | undefined;
      let port = requested;
      if (protocols.includes('UDP')) {
        // A burst of INVITEs (hundreds of calls a second through one Kamailio) overflows Linux's
        // default ~208 KiB receive buffer and loses datagrams, which turn into retransmissions and
        // seconds of post-dial delay; ask for 4 MiB (the kernel caps it at net.core.rmem_max).
        udp = dgram.createSocket({ type: net.isIPv6(options.host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
        port = await bindUdp(udp, options.host, requested);
      }
      let server: net.Server | undefined;
      if (protocols.includes('TCP')) {
        try {
          server = await listenTcp(options.host, port);
          port = (server.address() as net.AddressInfo).port;
        } catch (err) {
          udp?.close();
          if (requested === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
          throw err;
        }
      }
      const transport = new SipTransport({ host: options.host, port }, trust, options);
      transport.attach(udp, server);
      return transport;
    }
  }

  /** True for TCP: no retransmissions there (§17.1.1.2, §17.1.2.2). */
  static reliable(protocol: TransportProtocol): boolean {
    return protocol === 'TCP';
  }

  /** The protocols this transport listens on. */
  get protocols(): TransportProtocol[] {
    return [...(this.udp ? ['UDP' as const] : []), ...(this.server ? ['TCP' as const] : [])];
  }

  /** Open TCP connections (for tests and metrics). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Sends a request to `dest` (the next hop the UA resolved). Over TCP an open connection to that
   * address is reused, else one is opened.
   * @throws (rejects) on socket errors, a closed transport, or a UDP message over 65 507 bytes
   */
  async sendRequest(request: SipRequest, dest: Destination): Promise<void> {
    await this.sendTo(serializeMessage(request), dest);
  }

  /**
   * Sends a response per §18.2.2 (see the module comment), routed by its top Via.
   * @throws (rejects) when the response has no Via, or the socket fails
   */
  async sendResponse(response: SipResponse, context: ResponseContext): Promise<void> {
    const via = topVia(response);
    if (via === undefined) throw new Error('response has no top Via to route it by');
    const data = serializeMessage(response);
    if (context.protocol === 'TCP') {
      const conn = context.connectionId === undefined ? undefined : this.connections.get(context.connectionId);
      if (conn !== undefined && !conn.socket.destroyed) {
        await this.write(conn, data);
        return;
      }
      const host = via.params.get('received') ?? via.host;
      await this.sendTo(data, { host, port: via.port ?? 5060, protocol: 'TCP' });
      return;
    }
    const maddr = via.params.get('maddr');
    const received = via.params.get('received');
    const rport = Number(via.params.get('rport'));
    const host = maddr ?? received ?? via.host;
    const port = maddr === undefined && Number.isInteger(rport) && rport > 0 ? rport : (via.port ?? 5060);
    await this.sendTo(data, { host, port, protocol: 'UDP' });
  }

  /** Closes every socket; pending sends fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const conn of this.connections.values()) conn.socket.destroy();
    this.connections.clear();
    this.byRemote.clear();
    const udp = this.udp;
    const server = this.server;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined,
    ]);
    this.removeAllListeners();
  }

  private attach(udp: dgram.Socket | undefined, server: net.Server | undefined): void {
    this.udp = udp;
    this.server = server;
    udp?.on('message', (data, rinfo) => {
      if (!this.isTrusted(rinfo.address, rinfo.port, 'UDP')) return;
      this.receive(data, { host: normalizeIp(rinfo.address), port: rinfo.port }, 'UDP', undefined);
    });
    udp?.on('error', (err) => this.logger.error('SIP UDP socket error', { error: err.message }));
    server?.on('connection', (socket) => this.accept(socket));
    server?.on('error', (err) => this.logger.error('SIP TCP server error', { error: err.message }));
  }

  private accept(socket: net.Socket): void {
    const host = normalizeIp(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    if (!this.isTrusted(host, port, 'TCP') || this.connections.size >= (this.options.maxConnections ?? 256)) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.register(socket, host, port);
  }

  private register(socket: net.Socket, host: string, port: number): Connection {
    const conn: Connection = { id: this.nextConnectionId++, socket, framer: new SipStreamFramer(), remote: keyOf(host, port) };
    this.connections.set(conn.id, conn);
    this.byRemote.set(conn.remote, conn.id);
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? 600_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      const pings = conn.framer.pings;
      const frames = conn.framer.push(chunk);
      for (const frame of frames) this.receive(frame, { host, port }, 'TCP', conn.id);
      // RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong.
      if (conn.framer.pings > pings && !socket.destroyed) socket.write('\r\n');
      if (conn.framer.error !== undefined) {
        // A stream that lost its framing cannot be resynchronised: count it and drop the connection.
        this.stats.parseErrors++;
        this.logger.warn('SIP TCP framing error, closing connection', { peer: conn.remote, error: conn.framer.error.reason });
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.logger.debug('SIP TCP connection error', { peer: conn.remote, error: err.message }));
    socket.on('close', () => {
      this.connections.delete(conn.id);
      if (this.byRemote.get(conn.remote) === conn.id) this.byRemote.delete(conn.remote);
    });
    return conn;
  }

  /** The receive pipeline of one message; never throws (the edge of the process, see module doc). */
  private receive(data: Buffer, source: Endpoint, protocol: TransportProtocol, connectionId: number | undefined): void {
    try {
      if (data.every((b) => b === 0x0d || b === 0x0a || b === 0x20)) return; // keep-alive (RFC 5626 §3.5.1)
      this.stats.received++;
      let message: SipMessage;
      try {
        message = parseMessage(data);
      } catch (err) {
        this.stats.parseErrors++;
        this.answerMalformed(err, source, protocol, connectionId);
        return;
      }
      if (message.kind === 'request' && !stampReceived(message, source)) {
        this.stats.dropped++; // §18.2.1: a request without a usable Via cannot be answered
        return;
      }
      this.emit('message', { message, protocol, source, ...(connectionId === undefined ? {} : { connectionId }) });
    } catch (err) {
      this.stats.dropped++;
      this.logger.error('SIP message handling failed', { peer: keyOf(source.host, source.port), error: errorText(err) });
    }
  }

  /** 400/505 from the headers the parser got through (§21.4.1, §21.5.6); nothing for ACK or worse. */
  private answerMalformed(err: unknown, source: Endpoint, protocol: TransportProtocol, connectionId?: number): void {
    if (!(err instanceof SipParseError) || err.request === undefined || err.request.method === 'ACK') {
      this.stats.dropped++;
      this.logger.debug('unparseable SIP message dropped', { peer: keyOf(source.host, source.port), error: errorText(err) });
      return;
    }
    const pseudo: SipRequest = {
      kind: 'request',
      method: err.request.method,
      uri: err.request.uri,
      version: 'SIP/2.0',
      headers: err.request.headers.map((h) => ({ ...h })),
      body: Buffer.alloc(0),
    };
    if (!stampReceived(pseudo, source)) {
      this.stats.dropped++;
      return;
    }
    const response = buildResponse(pseudo, err.status, err.reason);
    this.logger.debug('malformed SIP request answered', { peer: keyOf(source.host, source.port), status: response.status, reason: err.reason });
    this.sendResponse(response, { protocol, ...(connectionId === undefined ? {} : { connectionId }) }).catch(() => {
      this.stats.dropped++;
    });
  }

  private async sendTo(data: Buffer, dest: Destination): Promise<void> {
    if (this.closed) throw new Error('SIP transport is closed');
    if (dest.protocol === 'UDP') {
      const udp = this.udp;
      if (udp === undefined) throw new Error('no UDP transport');
      if (data.length > MAX_UDP_PAYLOAD) throw new Error(`SIP message of ${data.length} bytes does not fit a UDP datagram`);
      await new Promise<void>((resolve, reject) => udp.send(data, dest.port, dest.host, (err) => (err ? reject(err) : resolve())));
      this.stats.sent++;
      return;
    }
    const existing = this.byRemote.get(keyOf(dest.host, dest.port));
    const conn = existing === undefined ? undefined : this.connections.get(existing);
    await this.write(conn !== undefined && !conn.socket.destroyed ? conn : await this.connect(dest), data);
  }

  private async write(conn: Connection, data: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => conn.socket.write(data, (err) => (err ? reject(err) : resolve())));
    this.stats.sent++;
  }

  /** Opens a connection to `dest`; concurrent sends to the same peer share one attempt. */
  private connect(dest: Endpoint): Promise<Connection> {
    if (this.server === undefined) return Promise.reject(new Error('no TCP transport'));
    const key = keyOf(dest.host, dest.port);
    const pending = this.connecting.get(key);
    if (pending !== undefined) return pending;
    const attempt = new Promise<Connection>((resolve, reject) => {
      const socket = net.connect({ host: dest.host, port: dest.port, localAddress: this.local.host });
      const limit = this.options.tcpConnectTimeoutMs ?? 10_000;
      const timer = setTimeout(() => socket.destroy(new Error(`TCP connect to ${key} timed out after ${limit} ms`)), limit);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        if (this.closed) {
          socket.destroy();
          reject(new Error('SIP transport is closed'));
          return;
        }
        resolve(this.register(socket, normalizeIp(socket.remoteAddress ?? dest.host), socket.remotePort ?? dest.port));
      });
    }).finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }

  private isTrusted(host: string, port: number, protocol: TransportProtocol): boolean {
    if (this.trust === undefined || this.trust.allows(normalizeIp(host), port, protocol)) return true;
    this.stats.untrusted++;
    const key = normalizeIp(host);
    // Log each untrusted address once (bounded), so a scan cannot flood the log.
    if (!this.loggedUntrusted.has(key) && this.loggedUntrusted.size < 1000) {
      this.loggedUntrusted.add(key);
      this.logger.warn('SIP traffic from an untrusted peer ignored', { peer: `${key}:${port}`, protocol });
    }
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
