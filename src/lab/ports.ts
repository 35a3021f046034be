/**
 * Port plan of a lab node: every port (SIP, JSON-RPC, RTPengine NG, the RTP range, and a range for
 * test clients such as sipp) derives from one base, so two lab nodes with different bases never
 * collide (NODE-FACTS.md "Starting them for tests": distinct ranges per run).
 */
import { createServer } from 'node:net';
import dgram from 'node:dgram';
import { PbxError } from '../lib/errors.js';

/** Ports reserved per lab node, from `base` to `base + PORT_BLOCK_SIZE - 1`. */
export const PORT_BLOCK_SIZE = 400;

/**
 * Every port of one lab node. Shape-compatible with `LabInfo.ports` (src/targets/lab-registry.ts).
 * - `sip`: Kamailio SIP, UDP and TCP (`base`)
 * - `rpc`: Kamailio JSON-RPC over HTTP, TCP on 127.0.0.1 (`base + 1`)
 * - `ng`: RTPengine NG control, UDP (`base + 2`)
 * - `rtpMin`..`rtpMax`: RTPengine media ports, UDP (`base + 10`.. `base + 109`, rtpMin even)
 * - `daemonSip`: the feature daemon's SIP, UDP and TCP on the node address (`base + 3`)
 * - `daemonApi`: the feature daemon's HTTP API, TCP on 127.0.0.1 (`base + 4`)
 * - `evapi`: Kamailio's evapi event socket (call and registration events for the daemon), TCP on 127.0.0.1 (`base + 5`)
 * - `clientMin`..`clientMax`: free for test clients on the same node (`base + 110`.. `base + 299`)
 * - `daemonRtpMin`..`daemonRtpMax`: the feature daemon's own RTP endpoints, UDP (`base + 300`.. end of block)
 */
export interface PortPlan {
  base: number;
  sip: number;
  rpc: number;
  ng: number;
  daemonSip: number;
  daemonApi: number;
  /** Set by portPlan(); optional so that plans written by hand before evapi existed still type-check (then Kamailio's default is daemonSip + 2). */
  evapi?: number;
  rtpMin: number;
  rtpMax: number;
  clientMin: number;
  clientMax: number;
  daemonRtpMin: number;
  daemonRtpMax: number;
}

/** A plan portPlan() derived: every port set, evapi included. */
export type LabPortPlan = PortPlan & { evapi: number };

/**
 * Derives the port plan of a lab node from its base port.
 * @param base first port of the block; an integer with 1024 < base and base + PORT_BLOCK_SIZE - 1 <= 65535
 * @returns the plan (all ports inside [base, base + PORT_BLOCK_SIZE))
 * @throws PbxError LAB_BAD_PORT_BASE when `base` is out of range or not an integer
 */
export function portPlan(base: number): LabPortPlan {
  if (!Number.isInteger(base) || base <= 1024 || base + PORT_BLOCK_SIZE - 1 > 65_535) {
    throw new PbxError('LAB_BAD_PORT_BASE', `port base ${base} is not usable: need an integer above 1024 with ${PORT_BLOCK_SIZE} ports up to 65535`, {
      hint: `Pick a base between 1025 and ${65_535 - PORT_BLOCK_SIZE + 1}, e.g. 25000.`,
    });
  }
  // RTPengine hands out RTP/RTCP pairs starting at an even port (RFC 3550 11).
  const rtpMin = base + 10 + (base % 2);
  return {
    base,
    sip: base,
    rpc: base + 1,
    ng: base + 2,
    daemonSip: base + 3,
    daemonApi: base + 4,
    evapi: base + 5,
    rtpMin,
    rtpMax: base + 109,
    clientMin: base + 110,
    clientMax: base + 299,
    daemonRtpMin: base + 300,
    daemonRtpMax: base + PORT_BLOCK_SIZE - 1,
  };
}

function canBindTcp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function canBindUdp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/**
 * Which of the plan's control ports are already taken: SIP and the daemon's SIP (UDP and TCP) on
 * `sipAddress`, RPC and the daemon API (TCP) and NG (UDP) on 127.0.0.1. Probes by binding and releasing each port, so the answer can be stale
 * a moment later; it is meant to pick a free block, not to guarantee one.
 * @returns busy ports as `proto:address:port` strings; empty when all are free
 */
export async function findBusyPorts(plan: PortPlan, sipAddress = '127.0.0.1'): Promise<string[]> {
  const checks: [string, Promise<boolean>][] = [
    [`udp:${sipAddress}:${plan.sip}`, canBindUdp(sipAddress, plan.sip)],
    [`tcp:${sipAddress}:${plan.sip}`, canBindTcp(sipAddress, plan.sip)],
    [`tcp:127.0.0.1:${plan.rpc}`, canBindTcp('127.0.0.1', plan.rpc)],
    [`udp:127.0.0.1:${plan.ng}`, canBindUdp('127.0.0.1', plan.ng)],
    [`udp:${sipAddress}:${plan.daemonSip}`, canBindUdp(sipAddress, plan.daemonSip)],
    [`tcp:${sipAddress}:${plan.daemonSip}`, canBindTcp(sipAddress, plan.daemonSip)],
    [`tcp:127.0.0.1:${plan.daemonApi}`, canBindTcp('127.0.0.1', plan.daemonApi)],
    ...(plan.evapi === undefined ? [] : [[`tcp:127.0.0.1:${plan.evapi}`, canBindTcp('127.0.0.1', plan.evapi)] as [string, Promise<boolean>]]),
  ];
  const busy: string[] = [];
  for (const [name, free] of checks) if (!(await free)) busy.push(name);
  return busy;
}
