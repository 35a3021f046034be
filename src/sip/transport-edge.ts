/**
 * The edge of the SIP transport (transport.ts), before a message is handed up: binding the
 * sockets, which peers may talk to us at all (the daemon talks only to its Kamailio, so everything
 * else is dropped before parsing), and recording where a request really came from (§18.2.1).
 */
import type dgram from 'node:dgram';
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { SipRequest, Via } from './message.js';
import { formatVia, parseVia, sameHeaderName, splitList } from './headers.js';
import type { Endpoint, TransportProtocol } from './transport.js';

/** An IP address as compared here: IPv4-mapped IPv6 unwrapped, lower case. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip.toLowerCase();
}

/**
 * The resolved `trustedPeers` list of a SipTransport: `host:port` entries match that UDP source
 * exactly and that host over TCP (TCP source ports are ephemeral); `host` entries match any port.
 */
export class TrustedPeers {
  private constructor(
    private readonly exact: Set<string>,
    private readonly anyPort: Set<string>,
    private readonly tcpHosts: Set<string>,
  ) {}

  /**
   * Parses `host`, `host:port`, `[v6]:port` entries and resolves host names (all addresses).
   * @throws Error for an entry with an invalid port, or when a host name does not resolve
   */
  static async resolve(entries: string[]): Promise<TrustedPeers> {
    const exact = new Set<string>();
    const anyPort = new Set<string>();
    const tcpHosts = new Set<string>();
    for (const entry of entries) {
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? /^([^:]+)(?::(\d+))?$/.exec(entry) ?? [entry, entry, undefined];
      const host = m[1] ?? entry;
      const port = m[2] === undefined ? undefined : Number(m[2]);
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
        throw new Error(`trusted peer ${entry}: invalid port`);
      }
      const ips = net.isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
      for (const ip of ips.map(normalizeIp)) {
        tcpHosts.add(ip);
        if (port === undefined) anyPort.add(ip);
        else exact.add(`${ip}:${port}`);
      }
    }
    return new TrustedPeers(exact, anyPort, tcpHosts);
  }

  /** True when a message from `ip`:`port` over `protocol` may be processed. */
  allows(ip: string, port: number, protocol: TransportProtocol): boolean {
    if (this.anyPort.has(ip) || this.exact.has(`${ip}:${port}`)) return true;
    return protocol === 'TCP' && this.tcpHosts.has(ip);
  }
}

/**
 * §18.2.1 / RFC 3581 §4: adds `received` to the request's top Via when the sent-by host is not the
 * source address (always when the peer asked for `rport`), and fills `rport` with the source port.
 * Only the top via-parm is rewritten; the other values of that line are kept as received.
 * @returns false when the request has no parseable top Via (it cannot be answered: drop it)
 */
export function stampReceived(request: SipRequest, source: Endpoint): boolean {
  const index = request.headers.findIndex((h) => sameHeaderName(h.name, 'Via'));
  const line = request.headers[index];
  if (line === undefined) return false;
  let top: Via | undefined;
  try {
    top = parseVia(line.value)[0];
  } catch {
    return false;
  }
  if (top === undefined) return false;
  const params = new Map(top.params);
  const sentHost = top.host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (params.has('rport')) {
    params.set('rport', String(source.port));
    params.set('received', source.host);
  } else if (sentHost !== source.host.toLowerCase()) {
    params.set('received', source.host);
  } else {
    return true;
  }
  const parts = splitList(line.value);
  parts[0] = formatVia({ ...top, params });
  request.headers[index] = { name: line.name, value: parts.join(', ') };
  return true;
}

/** Binds `socket` and resolves with the bound port; the socket is closed on failure. */
export function bindUdp(socket: dgram.Socket, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve(socket.address().port);
    });
  });
}

/** A listening TCP server on `host`:`port` (0: any free port). */
export function listenTcp(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}
