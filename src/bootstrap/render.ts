/**
 * The base configuration bootstrap puts on a node, rendered from pbxctl's templates (pure apart
 * from reading them): the static Kamailio script (templates/kamailio, rendered as the lab does),
 * rtpengine.conf (templates/rtpengine), the node descriptor (etc/node.json) and, on a systemd
 * node, the units (templates/systemd) with the node's paths and user, plus the daemon's
 * environment file.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderKamailioConfig } from '../lab/kamailio.js';
import type { PortPlan } from '../lab/ports.js';
import { PbxError } from '../lib/errors.js';
import { evapiPort, NODE_DESCRIPTOR, type NodeDescriptor } from '../targets/ssh-node.js';

const template = (rel: string) => readFileSync(fileURLToPath(new URL(`../../templates/${rel}`, import.meta.url)), 'utf8');

/** The systemd units shipped in templates/systemd. */
export const UNIT_NAMES = ['pbxctl-rtpengine.service', 'pbxctl-kamailio.service', 'pbxctl-daemon.service'] as const;

/** Everything the rendering needs to know about the node. */
export interface NodeSetup {
  /** Node directory on the node (absolute). */
  dir: string;
  domain: string;
  /** SIP and media address: an IP literal the node owns. */
  sipAddress: string;
  ports: PortPlan;
  serviceUser: string;
  daemonTokenFile: string;
  serviceManager: NodeDescriptor['serviceManager'];
  /** Absolute path of node on the node (systemd units' ExecStart). */
  nodeBinary: string;
}

/** A file bootstrap manages: absolute path on the node, content, mode, and which service reads it. */
export interface ManagedFile {
  path: string;
  content: string;
  mode: number;
  /** A service to restart when the file changes. */
  restarts?: 'kamailio' | 'rtpengine' | 'daemon';
}

/**
 * rtpengine.conf from templates/rtpengine/rtpengine.conf.
 * The `dtmf-log-dest` line is dropped: the feature daemon takes DTMF as RFC 4733 events on its own
 * RTP endpoints and listens for no DTMF log datagrams.
 */
export function renderRtpengineConf(s: NodeSetup, text: string = template('rtpengine/rtpengine.conf')): string {
  const values: Record<string, string> = { MEDIA_INTERFACE: s.sipAddress, NG_PORT: String(s.ports.ng), RTP_MIN: String(s.ports.rtpMin), RTP_MAX: String(s.ports.rtpMax) };
  const body = text.split('\n').filter((l) => !/^dtmf-log-dest\s*=/.test(l)).join('\n');
  // Only the settings part: the header comment documents the placeholders themselves.
  const start = body.indexOf('[rtpengine]');
  if (start < 0) throw new Error('templates/rtpengine/rtpengine.conf has no [rtpengine] section');
  const rendered = body.slice(start).replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => values[name] ?? m);
  const left = /\{\{[A-Z_]+\}\}/.exec(rendered);
  if (left) throw new Error(`templates/rtpengine/rtpengine.conf: no value for ${left[0]}`);
  return `# Rendered by pbxctl node bootstrap from templates/rtpengine/rtpengine.conf; re-run bootstrap to change it.\n${rendered}`;
}

/**
 * A systemd unit with the node's paths and user: the templates assume /var/lib/pbxctl (node dir),
 * /usr/lib/pbxctl (the package), /etc/pbxctl (token, rtpengine.conf) and user pbxctl.
 */
export function renderUnit(name: (typeof UNIT_NAMES)[number], s: NodeSetup, text: string = template(`systemd/${name}`)): string {
  // StateDirectory= names a directory under /var/lib: only right for the default node dir (bootstrap creates DIR/spool itself).
  const body = s.dir === '/var/lib/pbxctl' ? text : text.replace(/^StateDirectory=.*\n/m, '');
  return body
    .replaceAll('/usr/lib/pbxctl/bin/pbxctl', posix.join(s.dir, 'app', 'bin', 'pbxctl'))
    .replaceAll('/usr/bin/node', s.nodeBinary)
    .replaceAll('/etc/pbxctl/daemon.token', s.daemonTokenFile)
    .replaceAll('/etc/pbxctl/rtpengine.conf', posix.join(s.dir, 'etc', 'rtpengine.conf'))
    .replaceAll('/var/lib/pbxctl', s.dir)
    .replace(/^User=.*$/m, `User=${s.serviceUser}`)
    .replace(/^Group=.*$/m, `Group=${s.serviceUser}`);
}

/** /etc/default/pbxctl-daemon: the variables the daemon unit's ExecStart uses. */
export function renderDaemonEnv(s: NodeSetup): string {
  return [
    '# Written by pbxctl node bootstrap; re-run bootstrap to change it.',
    `PBX_SIP_ADDR=${s.sipAddress}`, `PBX_SIP_PORT=${s.ports.sip}`, `PBX_DAEMON_PORT=${s.ports.daemonSip}`, `PBX_NG_PORT=${s.ports.ng}`,
    `PBX_DAEMON_API_PORT=${s.ports.daemonApi}`, `PBX_DAEMON_RTP_MIN=${s.ports.daemonRtpMin}`, `PBX_DAEMON_RTP_MAX=${s.ports.daemonRtpMax}`,
    `PBX_EVAPI_PORT=${evapiPort(s.ports)}`, '',
  ].join('\n');
}

/** The node descriptor (etc/node.json): deterministic, so an unchanged node shows it as unchanged. */
export function renderDescriptor(s: NodeSetup, packageHash: string): string {
  const d: NodeDescriptor = {
    formatVersion: 1, domain: s.domain, sipAddress: s.sipAddress, ports: s.ports, daemonTokenFile: s.daemonTokenFile,
    serviceManager: s.serviceManager, serviceUser: s.serviceUser, packageHash,
  };
  return `${JSON.stringify(d, null, 2)}\n`;
}

/**
 * Every file bootstrap manages on the node except the token (only created when missing): the
 * Kamailio script, rtpengine.conf, the descriptor and, on systemd nodes, the units.
 * @param packageHash sha256 of the pbxctl package being installed (recorded in the descriptor)
 * @throws PbxError LAB_BAD_CONFIG_VALUE for an address, domain or dir the script cannot take
 */
export function managedFiles(s: NodeSetup, packageHash: string): ManagedFile[] {
  if (!posix.isAbsolute(s.dir)) throw new PbxError('NODE_DIR_RELATIVE', `the node dir ${s.dir} must be an absolute path`);
  const files: ManagedFile[] = [
    {
      path: posix.join(s.dir, 'etc', 'kamailio.cfg'), mode: 0o640, restarts: 'kamailio',
      content: renderKamailioConfig({
        sipAddress: s.sipAddress, sipPort: s.ports.sip, rpcPort: s.ports.rpc, ngSocket: `127.0.0.1:${s.ports.ng}`, root: s.dir, domain: s.domain, daemonPort: s.ports.daemonSip,
        // Kamailio's event socket for the daemon (supervisor.ts passes the daemon the same port).
        evapiPort: evapiPort(s.ports),
      }),
    },
    { path: posix.join(s.dir, 'etc', 'rtpengine.conf'), mode: 0o640, restarts: 'rtpengine', content: renderRtpengineConf(s) },
    // Ports and token file of the daemon are in the descriptor; the supervisor starts it from there.
    { path: posix.join(s.dir, NODE_DESCRIPTOR), mode: 0o640, restarts: 'daemon', content: renderDescriptor(s, packageHash) },
  ];
  if (s.serviceManager === 'systemd') {
    for (const u of UNIT_NAMES) files.push({ path: `/etc/systemd/system/${u}`, mode: 0o644, content: renderUnit(u, s), restarts: u === 'pbxctl-kamailio.service' ? 'kamailio' : u === 'pbxctl-rtpengine.service' ? 'rtpengine' : 'daemon' });
    files.push({ path: '/etc/default/pbxctl-daemon', mode: 0o644, content: renderDaemonEnv(s), restarts: 'daemon' });
  }
  return files;
}
