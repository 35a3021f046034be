/**
 * What pbxctl knows about a node reached over SSH before and after `pbxctl node bootstrap`: its
 * ports (from pbx.yaml, or the defaults below), and the descriptor bootstrap leaves on the node
 * (DIR/etc/node.json) so that plan/apply/status find Kamailio's RPC port, the feature daemon's API
 * port and token file, and the SIP domain the script was rendered for, without repeating them.
 */
import { posix } from 'node:path';
import { portPlan, type PortPlan } from '../lab/ports.js';
import type { NodeSpec } from '../model/types.js';

/** Default state directory of a node (releases, current, state, etc). */
export const DEFAULT_REMOTE_DIR = '/var/lib/pbxctl';

/** The descriptor's path, relative to the node dir. */
export const NODE_DESCRIPTOR = 'etc/node.json';

/**
 * A production node's ports when pbx.yaml gives no `portBase`: SIP 5060 (RFC 3261 19.1.2),
 * Kamailio JSON-RPC 5071, RTPengine NG 2223 (its packaged default), the daemon's SIP 5080 and API
 * 8071, RTP 30000-39999 for RTPengine and 40000-40999 for the daemon's own endpoints. The client
 * range is unused on a production node.
 */
export const PRODUCTION_PORTS: PortPlan = {
  // The lab plan of base 5060 supplies any port this list does not name (evapi: 5065).
  ...portPlan(5060),
  sip: 5060, rpc: 5071, ng: 2223, daemonSip: 5080, daemonApi: 8071,
  rtpMin: 30000, rtpMax: 39999, clientMin: 0, clientMax: -1, daemonRtpMin: 40000, daemonRtpMax: 40999,
};

/**
 * The node's ports: the lab port block of `portBase` (src/lab/ports.ts, for test nodes and several
 * nodes on one host), else {@link PRODUCTION_PORTS}; `rpcPort` and `daemonApiPort` override either.
 * @throws PbxError LAB_BAD_PORT_BASE for an unusable portBase
 */
export function nodePorts(spec: NodeSpec): PortPlan {
  const base = spec.portBase !== undefined ? portPlan(spec.portBase) : PRODUCTION_PORTS;
  return { ...base, ...(spec.rpcPort !== undefined ? { rpc: spec.rpcPort } : {}), ...(spec.daemonApiPort !== undefined ? { daemonApi: spec.daemonApiPort } : {}) };
}

/** Kamailio's evapi port (events for the daemon's CDRs and webhooks): the plan's, else Kamailio's default daemon SIP + 2. */
export function evapiPort(ports: PortPlan): number {
  return (ports as { evapi?: number }).evapi ?? ports.daemonSip + 2;
}

/** The node's state directory on the node (absolute, normalized). */
export function nodeDir(spec: NodeSpec): string {
  return posix.normalize(spec.dir ?? DEFAULT_REMOTE_DIR).replace(/\/+$/, '') || '/';
}

/** The daemon's token file on the node (absolute): `daemonTokenFile`, default DIR/etc/daemon.token. */
export function nodeTokenFile(spec: NodeSpec): string {
  return spec.daemonTokenFile ?? posix.join(nodeDir(spec), 'etc', 'daemon.token');
}

/** DIR/etc/node.json, written by bootstrap. */
export interface NodeDescriptor {
  formatVersion: 1;
  /** SIP domain the Kamailio script was rendered with (digest realm). */
  domain: string;
  sipAddress: string;
  ports: PortPlan;
  /** Absolute path of the daemon API's token file on the node. */
  daemonTokenFile: string;
  /** How the services are run: systemd units, or pbxctl's own supervisor (pidfiles under DIR/run). */
  serviceManager: 'systemd' | 'supervisor';
  /** The user the services run as. */
  serviceUser: string;
  /** sha256 of the pbxctl package installed for the daemon. */
  packageHash: string;
}
