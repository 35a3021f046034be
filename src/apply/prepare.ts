/**
 * Everything plan and apply share: compile the desired node from a validated repo (Kamailio data,
 * the feature daemon's config and the prompts it plays), read the live node (its inventory,
 * Kamailio's RPC dumps and, when it runs one, the feature daemon's running config), and diff them.
 */
import { randomBytes } from 'node:crypto';
import { resolveDaemonSecrets, secretsVersion, type DaemonSecretValues } from '../compile/daemon-secrets.js';
import { compileFeatureConfig } from '../compile/feature-config.js';
import { featureEntries } from '../compile/feature-entries.js';
import { allocate, compileNodeData, type Allocation, type NodeEntry } from '../compile/node-data.js';
import { releasePrompts, type FileHashes, type PromptSpec } from '../compile/prompts.js';
import { renderFeatureConfigFile, renderReleaseFiles, type ReleaseFile } from '../compile/release-files.js';
import { parseSecretRef, type SecretResolver } from '../config/secrets.js';
import type { FeatureConfig } from '../daemon/config-types.js';
import { readLiveEntries } from '../kamailio/live-state.js';
import { PbxError } from '../lib/errors.js';
import { audioFields } from '../model/references.js';
import type { DesiredState, Resource } from '../model/types.js';
import { computePlan, type DesiredNode, type LiveNode } from '../plan/diff.js';
import { fingerprint, snapshotState } from '../plan/snapshot.js';
import type { Inventory, Plan, ResourceSnapshot } from '../plan/types.js';
import type { Target } from '../targets/target.js';
import { hashPromptFiles } from './prompts.js';

export const INVENTORY_PATH = 'current/inventory.json';

/** The desired node, compiled: what apply writes. */
export interface PreparedNode extends DesiredNode {
  salt: string;
  allocation: Allocation;
  /** Text files of the release: Kamailio's data files and daemon/features.json. */
  files: ReleaseFile[];
  /** The feature daemon's config (the content of daemon/features.json). */
  featureConfig: FeatureConfig;
  /** Prompts the release ships as `prompts/<id>` (rendered by apply before staging), sorted by id. */
  prompts: PromptSpec[];
  /**
   * The secrets of daemon/secrets.json, in clear: apply writes the file (PINs hashed, reusing the
   * previous release's unchanged hashes: apply/daemon-secrets.ts), a plan only needs their hash.
   */
  daemonSecrets: DaemonSecretValues;
}

/** Options of {@link prepareNode}. */
export interface PrepareOptions {
  /** sha256 of each audio file the state plays (prompts.ts hashPromptFiles). */
  fileHashes: FileHashes;
  /**
   * Whether the node runs a feature daemon: then the config's records are desired entries
   * (`feature/...`, compared with what the daemon runs); otherwise only the file is shipped.
   */
  daemon: boolean;
  /** The repo's git commit, recorded with the deployment. */
  commit?: string;
  /** Salt for a node without an inventory (a saved plan's, so its hashes still match). */
  freshSalt?: string;
}

/** Options of {@link planFor}. */
export interface PlanOptions {
  /** The repo directory: audio files are read from it (their sha256 is part of each prompt's id). */
  repoDir?: string;
  commit?: string;
  freshSalt?: string;
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
 * Reads the node's inventory (current/inventory.json); undefined on a node pbxctl never applied to.
 * @throws PbxError INVENTORY_CORRUPT when the inventory exists but is not readable JSON
 */
export async function readInventory(target: Target): Promise<Inventory | undefined> {
  const text = await target.readText(INVENTORY_PATH);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Inventory;
  } catch {
    throw new PbxError('INVENTORY_CORRUPT', `${target.name}: ${INVENTORY_PATH} is not valid JSON`, { hint: 'Restore it from an earlier release directory, or remove it to treat the node as unmanaged.' });
  }
}

/**
 * The node's live entries: Kamailio's RPC dumps, plus the `feature/...` entries of the config the
 * feature daemon runs (GET /v1/config) when the target has a daemon. A daemon that does not answer
 * fails the read, as Terraform fails a plan whose state it cannot read: without its entries the
 * plan could not tell what the daemon runs.
 * @throws PbxError DAEMON_UNREACHABLE / DAEMON_API_ERROR (daemon-client.ts), KamailioRpcError
 */
export async function readLiveNodeEntries(target: Target): Promise<Map<string, string>> {
  const [entries, daemon] = await Promise.all([readLiveEntries(target.rpc), target.daemon?.config()]);
  for (const [id, value] of Object.entries(daemon?.entries ?? {})) if (id.startsWith('feature/')) entries.set(id, value);
  return entries;
}

/**
 * Reads the node's live state: its inventory and the live entries ({@link readLiveNodeEntries}).
 * @throws PbxError INVENTORY_CORRUPT, DAEMON_UNREACHABLE, DAEMON_API_ERROR
 */
export async function readLive(target: Target): Promise<LiveNode> {
  const [inventory, entries] = await Promise.all([readInventory(target), readLiveNodeEntries(target)]);
  return inventory ? { inventory, entries } : { entries };
}

/** Resource kinds that play audio files, and how to find the resource of a snapshot. */
function resourceOf(state: DesiredState, s: ResourceSnapshot): Resource | undefined {
  if (s.kind === 'IVR') return state.ivrs.get(s.identity);
  if (s.kind === 'Queue') return state.queues.get(s.identity);
  if (s.kind === 'MusicOnHold') return state.musicOnHold.get(s.identity);
  if (s.kind === 'VoicemailSettings') return state.voicemailSettings;
  return undefined;
}

/**
 * Adds an `audioFiles` attribute (`"prompts/welcome.wav sha256:<12 hex>"`, sorted) to every
 * resource that plays repo audio files: a re-recorded greeting keeps its path, so without its
 * digest the plan would not say which resource changed and why.
 */
function withAudioDigests(resources: ResourceSnapshot[], state: DesiredState, hashes: FileHashes): ResourceSnapshot[] {
  return resources.map((s) => {
    const r = resourceOf(state, s);
    const files = r ? [...new Set(audioFields(r).map((f) => f.file))].sort() : [];
    if (!files.length) return s;
    return { ...s, attributes: { ...s.attributes, audioFiles: files.map((f) => `${f} sha256:${(hashes[f] ?? '').slice(0, 12)}`) } };
  });
}

/**
 * Compiles the desired node against what the live inventory allocated and salted: Kamailio's
 * entries and data files, the feature config (daemon/features.json) and its prompts. Pure.
 * @throws PbxError SECRET_UNRESOLVED
 * @throws Error (a bug) when an audio file has no digest in `opts.fileHashes`
 */
export function prepareNode(state: DesiredState, secrets: SecretResolver, live: LiveNode, opts: PrepareOptions): PreparedNode {
  const value = secretValues(secrets);
  // A fresh node has no salt yet: use the saved plan's (so its hashes still match) or a new one.
  const salt = live.inventory?.salt ?? opts.freshSalt ?? randomBytes(16).toString('hex');
  const allocation = allocate(state, live.inventory?.allocation);
  const kamailio: NodeEntry[] = compileNodeData(state, value, allocation);
  const daemonSecrets = resolveDaemonSecrets(state, value);
  const featureConfig = compileFeatureConfig(state, { fileHashes: opts.fileHashes, secretsVersion: secretsVersion(daemonSecrets, salt) });
  const entries = opts.daemon ? [...kamailio, ...featureEntries(featureConfig)] : kamailio;
  const resources = withAudioDigests(snapshotState(state, (ref) => fingerprint(salt, value(ref))), state, opts.fileHashes);
  const node: PreparedNode = {
    pbx: { name: state.pbx.name, domain: state.pbx.domain }, resources, entries, salt, allocation,
    files: [...renderReleaseFiles(kamailio), renderFeatureConfigFile(featureConfig)],
    featureConfig,
    prompts: releasePrompts(state, featureConfig, opts.fileHashes),
    daemonSecrets,
  };
  if (opts.commit) node.commit = opts.commit;
  return node;
}

/**
 * Reads the live node, compiles and diffs: the plan for `target`.
 * @throws PbxError DOMAIN_MISMATCH when the node was set up for another SIP domain (digest realm);
 *   DAEMON_UNREACHABLE when the node's feature daemon does not answer; PROMPT_FILE_MISSING
 */
export async function planFor(target: Target, state: DesiredState, secrets: SecretResolver, opts: PlanOptions = {}): Promise<{ plan: Plan; desired: PreparedNode; live: LiveNode }> {
  if (target.domain && target.domain !== state.pbx.domain) {
    throw new PbxError('DOMAIN_MISMATCH', `node ${target.name} serves SIP domain ${target.domain}, the repo's is ${state.pbx.domain}`, {
      hint: target.name === 'lab' ? `Restart the lab for this repo: pbxctl lab down && pbxctl lab up --domain ${state.pbx.domain}` : 'The domain is the digest realm of every phone password; change it on the node first.',
    });
  }
  const [live, fileHashes] = await Promise.all([readLive(target), hashPromptFiles(state, opts.repoDir)]);
  const desired = prepareNode(state, secrets, live, { fileHashes, daemon: target.daemon !== undefined, commit: opts.commit, freshSalt: opts.freshSalt });
  return { plan: computePlan(target.name, desired, live), desired, live };
}
