/**
 * Which peers the SIP transport listens to (transport.ts): the daemon talks only to its Kamailio,
 * so everything else is dropped before parsing.
 */
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { TransportProtocol } from './transport.js';

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
