/**
 * Picks the target a command works on: `--target NAME`, else the repo's only node. `lab` names
 * the local lab node started by `pbxctl lab up` (found through lab.json, see lab-registry.ts).
 */
import { resolve as resolvePath } from 'node:path';
import { PbxError } from '../lib/errors.js';
import type { NodeSpec, PbxConfig } from '../model/types.js';
import { labDir, readLabInfo } from './lab-registry.js';
import { localTarget } from './local.js';
import type { Target } from './target.js';

/** Default state directory of a production local node. */
export const DEFAULT_NODE_DIR = '/var/lib/pbxctl';

/** Opens the lab node's target. @throws PbxError LAB_NOT_RUNNING */
export async function labTarget(env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const dir = labDir(env);
  const info = await readLabInfo(dir);
  if (!info) throw new PbxError('LAB_NOT_RUNNING', `no lab node in ${dir}`, { hint: 'Start one with `pbxctl lab up` (or set PBXCTL_LAB_DIR to where it runs).' });
  return localTarget('lab', info.root, info.ports.rpc, undefined, info.domain);
}

/**
 * Resolves and opens the target.
 * @param name `--target` value, if given
 * @param pbx the repo's pbx.yaml (undefined for commands run without a repo: only `lab` works then)
 * @throws PbxError UNKNOWN_TARGET, AMBIGUOUS_TARGET, LAB_NOT_RUNNING, TARGET_UNSUPPORTED
 */
export async function openTarget(name: string | undefined, pbx: PbxConfig | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
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
  if (node.type === 'ssh') {
    throw new PbxError('TARGET_UNSUPPORTED', `node ${node.name} is reached over SSH, which this version of pbxctl cannot do yet`, { hint: 'Run pbxctl on the node itself with a local node entry, or use --target lab.' });
  }
  // A local node without a dir named "lab" is the lab node; otherwise its state dir on this machine.
  if (node.name === 'lab' && !node.dir) return labTarget(env);
  return localTarget(node.name, resolvePath(node.dir ?? DEFAULT_NODE_DIR), node.rpcPort ?? 5071);
}
