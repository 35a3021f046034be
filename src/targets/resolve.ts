/**
 * Picks the target a command works on: `--target NAME`, else the repo's only node. `lab` names
 * the local lab node started by `pbxctl lab up` (found through lab.json, see lab-registry.ts).
 */
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DaemonClient } from '../daemon/daemon-client.js';
import { PbxError } from '../lib/errors.js';
import type { NodeSpec, PbxConfig } from '../model/types.js';
import { labDir, readLabInfo, type LabInfo } from './lab-registry.js';
import { localTarget } from './local.js';
import { sshTarget } from './ssh.js';
import type { Target } from './target.js';

/** Default state directory of a production local node. */
export const DEFAULT_NODE_DIR = '/var/lib/pbxctl';

/**
 * The client of a lab node's feature daemon (API on 127.0.0.1), or undefined when lab.json records
 * none (a lab started before `lab up` ran the daemon, or a test node without one).
 * @throws PbxError LAB_DAEMON_TOKEN when the token file lab.json names cannot be read
 */
export async function labDaemonClient(info: LabInfo): Promise<DaemonClient | undefined> {
  if (info.ports.daemonApi === undefined || info.daemonTokenFile === undefined) return undefined;
  const file = info.daemonTokenFile;
  const token = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new PbxError('LAB_DAEMON_TOKEN', `cannot read the lab daemon's API token ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'Restart the lab node (`pbxctl lab down && pbxctl lab up`): lab up writes a new token and restarts the daemon with it.',
      cause: e,
    });
  });
  return new DaemonClient({ host: '127.0.0.1', port: info.ports.daemonApi, token: token.trim() });
}

/** Opens the lab node's target (with its feature daemon when lab.json records one). @throws PbxError LAB_NOT_RUNNING, LAB_DAEMON_TOKEN */
export async function labTarget(env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const dir = labDir(env);
  const info = await readLabInfo(dir);
  if (!info) throw new PbxError('LAB_NOT_RUNNING', `no lab node in ${dir}`, { hint: 'Start one with `pbxctl lab up` (or set PBXCTL_LAB_DIR to where it runs).' });
  const daemon = await labDaemonClient(info);
  return localTarget('lab', info.root, info.ports.rpc, undefined, info.domain, daemon ? { daemon } : {});
}

/**
 * Resolves and opens the target.
 * @param name `--target` value, if given
 * @param pbx the repo's pbx.yaml (undefined for commands run without a repo: only `lab` works then)
 * @param opts.acceptNewHostKey ssh nodes: record the host key of a node known_hosts does not list yet
 * @throws PbxError UNKNOWN_TARGET, AMBIGUOUS_TARGET, LAB_NOT_RUNNING, LAB_DAEMON_TOKEN; for ssh nodes the
 *   SSH_* connection errors (ssh-errors.ts) and SSH_DAEMON_TOKEN
 */
export async function openTarget(name: string | undefined, pbx: PbxConfig | undefined, env: NodeJS.ProcessEnv = process.env, opts: { acceptNewHostKey?: boolean } = {}): Promise<Target> {
  const nodes = pbx?.nodes ?? [];
  let node: NodeSpec | undefined;
  if (name) {
    node = nodes.find((n) => n.name === name);
    if (!node && name === 'lab') return labTarget(env);
    if (!node) throw new PbxError('UNKNOWN_TARGET', `no node named "${name}"`, { hint: `Nodes in pbx.yaml: ${nodes.map((n) => n.name).join(', ') || '(none)'}; "lab" names the local lab node.` });
  } else if (nodes.length === 1) {
    node = nodes[0]!;
  } else {
    throw new PbxError('AMBIGUOUS_TARGET', nodes.length ? `the repo has ${nodes.length} nodes; say which` : 'no target given', { hint: `Pass --target NAME (${[...nodes.map((n) => n.name), 'lab'].join(', ')}).` });
  }
  // Over SSH: SFTP for files, tunnels to Kamailio's RPC and the daemon's API (ssh.ts).
  if (node.type === 'ssh') return sshTarget(node, { env, ...(opts.acceptNewHostKey ? { acceptNewHostKey: true } : {}) });
  // A local node without a dir named "lab" is the lab node; otherwise its state dir on this machine.
  if (node.name === 'lab' && !node.dir) return labTarget(env);
  return localTarget(node.name, resolvePath(node.dir ?? DEFAULT_NODE_DIR), node.rpcPort ?? 5071);
}
