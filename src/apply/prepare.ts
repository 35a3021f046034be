/**
 * Everything plan and apply share: compile the desired node from a validated repo, read the live
 * node (its inventory and Kamailio's RPC dumps), and diff them.
 */
import { randomBytes } from 'node:crypto';
import { allocate, compileNodeData, type Allocation, type NodeEntry } from '../compile/node-data.js';
import { renderReleaseFiles, type ReleaseFile } from '../compile/release-files.js';
import { parseSecretRef, type SecretResolver } from '../config/secrets.js';
import { readLiveEntries } from '../kamailio/live-state.js';
import { PbxError } from '../lib/errors.js';
import type { DesiredState } from '../model/types.js';
import { computePlan, type DesiredNode, type LiveNode } from '../plan/diff.js';
import { fingerprint, snapshotState } from '../plan/snapshot.js';
import type { Inventory, Plan } from '../plan/types.js';
import type { Target } from '../targets/target.js';

export const INVENTORY_PATH = 'current/inventory.json';

/** The desired node, compiled: what apply writes. */
export interface PreparedNode extends DesiredNode {
  salt: string;
  allocation: Allocation;
  files: ReleaseFile[];
}

/**
 * Resolves a secret reference to its value.
 * @throws PbxError SECRET_UNRESOLVED naming where the value is looked for
 */
export function secretValues(resolver: SecretResolver): (ref: string) => string {
  return (text) => {
    const ref = parseSecretRef(text);
    const v = ref ? resolver.resolve(ref) : undefined;
    if (v === undefined) {
      throw new PbxError('SECRET_UNRESOLVED', `${text} has no value`, { hint: ref ? `Set ${resolver.describe(ref)}.` : 'Use ${secret:NAME} or ${env:NAME}.' });
    }
    return v;
  };
}

/**
 * Reads the node's live state: its inventory (current/inventory.json) and the live entries.
 * @throws PbxError INVENTORY_CORRUPT when the inventory exists but is not readable JSON
 */
export async function readLive(target: Target): Promise<LiveNode> {
  const [text, entries] = await Promise.all([target.readText(INVENTORY_PATH), readLiveEntries(target.rpc)]);
  let inventory: Inventory | undefined;
  if (text !== undefined) {
    try {
      inventory = JSON.parse(text) as Inventory;
    } catch {
      throw new PbxError('INVENTORY_CORRUPT', `${target.name}: ${INVENTORY_PATH} is not valid JSON`, { hint: 'Restore it from an earlier release directory, or remove it to treat the node as unmanaged.' });
    }
  }
  return inventory ? { inventory, entries } : { entries };
}

/** Compiles the desired node against what the live inventory allocated and salted. */
export function prepareNode(state: DesiredState, secrets: SecretResolver, live: LiveNode, commit?: string, freshSalt?: string): PreparedNode {
  const value = secretValues(secrets);
  // A fresh node has no salt yet: use the saved plan's (so its hashes still match) or a new one.
  const salt = live.inventory?.salt ?? freshSalt ?? randomBytes(16).toString('hex');
  const allocation = allocate(state, live.inventory?.allocation);
  const entries: NodeEntry[] = compileNodeData(state, value, allocation);
  const resources = snapshotState(state, (ref) => fingerprint(salt, value(ref)));
  const node: PreparedNode = { pbx: { name: state.pbx.name, domain: state.pbx.domain }, resources, entries, salt, allocation, files: renderReleaseFiles(entries) };
  if (commit) node.commit = commit;
  return node;
}

/**
 * Reads the live node, compiles and diffs: the plan for `target`.
 * @throws PbxError DOMAIN_MISMATCH when the node was set up for another SIP domain (digest realm)
 */
export async function planFor(target: Target, state: DesiredState, secrets: SecretResolver, commit?: string, freshSalt?: string): Promise<{ plan: Plan; desired: PreparedNode; live: LiveNode }> {
  if (target.domain && target.domain !== state.pbx.domain) {
    throw new PbxError('DOMAIN_MISMATCH', `node ${target.name} serves SIP domain ${target.domain}, the repo's is ${state.pbx.domain}`, {
      hint: target.name === 'lab' ? `Restart the lab for this repo: pbxctl lab down && pbxctl lab up --domain ${state.pbx.domain}` : 'The domain is the digest realm of every phone password; change it on the node first.',
    });
  }
  const live = await readLive(target);
  const desired = prepareNode(state, secrets, live, commit, freshSalt);
  return { plan: computePlan(target.name, desired, live), desired, live };
}
