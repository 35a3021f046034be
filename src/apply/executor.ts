/**
 * apply: lock -> stage -> switch -> reload -> verify -> record, or roll back
 * (DESIGN.md "Apply is all-or-nothing per node"). Any failure after the switch points `current`
 * back at the previous release and reloads it, so the node ends on a complete release.
 * Reloads are Kamailio RPCs and, on a node with a feature daemon, its config reload (last).
 */
import { createHash, randomBytes } from 'node:crypto';
import { FEATURE_CONFIG_FILE } from '../compile/feature-entries.js';
import { contentHash, fileOfEntry, reloadFor, type ReloadAction } from '../compile/release-files.js';
import { KamailioRpcError } from '../kamailio/rpc-client.js';
import { PbxError } from '../lib/errors.js';
import { computePlan, stableHash } from '../plan/diff.js';
import { hasChanges, type Inventory, type Plan } from '../plan/types.js';
import type { Target } from '../targets/target.js';
import { acquireLock, releaseLock, whoami, type LockInfo } from './lock.js';
import { daemonSecretsFile } from './daemon-secrets.js';
import { readLive, readLiveNodeEntries, type PreparedNode } from './prepare.js';
import type { PromptReader } from './prompts.js';

/**
 * The steps apply reports progress on, in order. `render` (prompts into the local cache) is the
 * apply command's, before the executor runs; the others are the executor's.
 */
export type ApplyStep = 'lock' | 'check' | 'render' | 'stage' | 'switch' | 'reload' | 'verify' | 'record' | 'rollback';

/** Progress callback: a step started, finished, or failed (with detail text). */
export type ApplyProgress = (step: ApplyStep, status: 'start' | 'done' | 'failed', detail?: string) => void;

export interface ApplyOptions {
  /** What is applying, recorded in the lock (`pbxctl apply`). */
  command: string;
  lockTimeoutMs?: number;
  /** Releases kept on the node, the current one included; default 10. */
  keepReleases?: number;
  onProgress?: ApplyProgress;
  /** A lock the caller already holds (taken before planning, as Terraform does); it stays held. */
  heldLock?: LockInfo;
  /**
   * The rendered prompts' bytes by id (prompts.ts renderNodePrompts), written into the release as
   * `prompts/<id>`. Required when `desired.prompts` is not empty and the node needs a new release.
   */
  readPrompt?: PromptReader;
  /**
   * Facts about `desired.commit` recorded with the deployment (gitops/git.ts commitInfo): the
   * commit's author (`Name <email>`) and subject line, for `pbxctl history`.
   */
  commitMeta?: { author?: string; subject?: string };
}

/** A deployment record (state/deployments.jsonl, one JSON object per line). */
export interface DeploymentRecord {
  release: string;
  previous?: string;
  time: string;
  user: string;
  commit?: string;
  /** The commit's author (`Name <email>`) and subject, when the caller knew them (ApplyOptions.commitMeta). */
  author?: string;
  subject?: string;
  /** What applied it (ApplyOptions.command: `pbxctl apply DIR`, `pbxctl sync`, `pbxctl rollback`). */
  command?: string;
  planHash: string;
  summary: Plan['summary'];
}

export interface ApplyResult {
  /** `noop` when the node already matched (nothing written, nothing reloaded). */
  outcome: 'applied' | 'noop';
  release?: string;
  previous?: string;
  reloads: string[];
  record?: DeploymentRecord;
}

/** Thrown when apply failed and the node was switched back; says where the node is now. */
export class ApplyFailedError extends PbxError {
  constructor(step: ApplyStep, cause: unknown, readonly nodeRelease: string | undefined, rolledBack: boolean, rollbackProblem?: string) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('APPLY_FAILED', `apply failed at step "${step}": ${why}. ${rolledBack ? `The node is back on ${nodeRelease ? `release ${nodeRelease}` : 'its previous (empty) state'}` : 'Nothing on the node was changed'}${rollbackProblem ? `, but: ${rollbackProblem}` : ''}.`, {
      hint: rollbackProblem ? 'Fix the problem (e.g. start Kamailio), then run apply again: it converges from whatever the node has.' : 'Fix the cause and run apply again.',
      cause,
    });
  }
}

/** A new release id: UTC time plus randomness, sortable (`20261121T164600Z-3fa2`). */
export function newReleaseId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}

async function retryReload<T>(fn: () => Promise<T>): Promise<T> {
  // dispatcher/permissions refuse a reload within reload_delta (1 s) of the last one ("Ongoing
  // reload"); uac within reg_gc_interval (6 s, "Failed to shift records").
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt < 20 && e instanceof KamailioRpcError && /ongoing reload|try again|failed to shift records/i.test(e.message)) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw e;
    }
  }
}

/** Describes a reload for progress lines (`htable ext`, `dispatcher.reload`, `daemon.reload`). */
const describeReload = (a: ReloadAction) => (a.rpc === 'htable.reload' ? `htable ${a.table}` : a.rpc);

async function reload(target: Target, action: ReloadAction): Promise<string> {
  if (action.rpc === 'daemon.reload') {
    // Only planned when the target has a daemon (see stage); the daemon loads current/daemon/features.json.
    const r = await target.daemon!.reload();
    return `daemon.reload ${r.version}`;
  }
  if (action.rpc === 'htable.reload') {
    await retryReload(() => target.rpc.call('htable.reload', [action.table]));
    return `htable.reload ${action.table}`;
  }
  await retryReload(() => target.rpc.call(action.rpc));
  return action.rpc;
}

/** Verifies the live entries (Kamailio's and the daemon's) equal `entries`; throws naming the first differences. */
async function verify(target: Target, expected: { id: string; value: string }[]): Promise<void> {
  const live = await readLiveNodeEntries(target);
  const want = new Map(expected.map((e) => [e.id, e.value]));
  const diffs: string[] = [];
  for (const [id, v] of want) if (live.get(id) !== v) diffs.push(`${id} is ${live.has(id) ? 'different' : 'missing'}`);
  for (const id of live.keys()) if (!want.has(id)) diffs.push(`${id} should not exist`);
  if (diffs.length) throw new PbxError('VERIFY_FAILED', `the node does not show the new state: ${diffs.slice(0, 5).join('; ')}${diffs.length > 5 ? ` (+${diffs.length - 5} more)` : ''}`);
}

/** Release files holding entries whose live value differs from the desired one. */
function filesWithLiveDifferences(desired: { id: string; value: string }[], live: Map<string, string>): Set<string> {
  const out = new Set<string>();
  const want = new Map(desired.map((e) => [e.id, e.value]));
  const mark = (id: string) => {
    const file = fileOfEntry(id);
    if (file) out.add(file);
  };
  for (const [id, v] of want) if (live.get(id) !== v) mark(id);
  for (const id of live.keys()) if (!want.has(id)) mark(id);
  return out;
}

/** mtime for a file replacing one with `previousMs`: later than it and than now, in whole seconds (db_text). */
function nextMtime(previousMs: number | undefined): number {
  const now = Math.ceil(Date.now() / 1000) * 1000;
  return Math.max(now, previousMs !== undefined ? Math.floor(previousMs / 1000) * 1000 + 1000 : 0);
}

/**
 * Applies `desired` to the node, if the live state still matches `plan` (computed from the same repo).
 * @throws PbxError LOCKED (exit 75), STALE_PLAN, ApplyFailedError (node restored to the previous release)
 */
export async function applyNode(target: Target, desired: PreparedNode, plan: Plan, opts: ApplyOptions): Promise<ApplyResult> {
  const progress = opts.onProgress ?? (() => undefined);
  progress('lock', 'start');
  const lock = opts.heldLock ?? (await acquireLock(target, opts.command, opts.lockTimeoutMs ?? 0));
  progress('lock', 'done', lock.id);
  try {
    progress('check', 'start');
    const live = await readLive(target);
    const fresh = computePlan(target.name, desired, live);
    if (fresh.liveHash !== plan.liveHash) {
      throw new PbxError('STALE_PLAN', `the node changed since the plan was made (release ${live.inventory?.release ?? 'none'} now)`, { hint: 'Run pbxctl plan again and review the new plan.' });
    }
    progress('check', 'done');
    if (!hasChanges(fresh)) return { outcome: 'noop', reloads: [] };

    const previous = live.inventory?.release ?? (await target.readLink('current'))?.replace(/^releases\//, '');
    const release = newReleaseId();
    const dir = `releases/${release}`;

    if (desired.prompts.length && !opts.readPrompt) {
      throw new PbxError('PROMPTS_NOT_RENDERED', `the release needs ${desired.prompts.length} prompts and none were rendered`, {
        hint: 'Render them first (apply/prompts.ts renderNodePrompts) and pass readPrompt; `pbxctl apply` does this.',
      });
    }
    // Stage: every file into a new release directory; nothing live has changed yet.
    progress('stage', 'start', dir);
    const hashes: Record<string, string> = {};
    const toReload: ReloadAction[] = [];
    const drifted = filesWithLiveDifferences(desired.entries, live.entries);
    // daemon/secrets.json is built here, not by the plan: PIN hashing is slow (apply/daemon-secrets.ts).
    const files = [...desired.files, await daemonSecretsFile(target, desired, live)];
    for (const f of files) {
      hashes[f.path] = contentHash(f.content);
      // Reload what changed in the repo, and what drifted on the node even if its file did not.
      const changed = live.inventory?.files[f.path] !== hashes[f.path] || drifted.has(f.path);
      const action = reloadFor(f.path);
      // A node without a feature daemon still gets its config file, for a daemon started later.
      const queued = action?.rpc === 'daemon.reload' && toReload.some((a) => a.rpc === 'daemon.reload');
      if (changed && action && !queued && (action.rpc !== 'daemon.reload' || target.daemon)) toReload.push(action);
      const prevStat = await target.stat(`current/${f.path}`);
      await target.writeText(`${dir}/${f.path}`, f.content, { mode: f.mode ?? 0o640, mtimeMs: nextMtime(prevStat?.mtimeMs) });
    }
    for (const p of desired.prompts) {
      const bytes = await opts.readPrompt!(p.id);
      hashes[`prompts/${p.id}`] = createHash('sha256').update(bytes).digest('hex');
      await target.writeBytes(`${dir}/prompts/${p.id}`, bytes, { mode: 0o640 });
    }
    // The daemon last: Kamailio must already route what the new feature config serves.
    toReload.sort((a, b) => Number(a.rpc === 'daemon.reload') - Number(b.rpc === 'daemon.reload'));
    const record: DeploymentRecord = { release, time: new Date().toISOString(), user: whoami(), planHash: stableHash(plan), summary: plan.summary };
    if (previous) record.previous = previous;
    if (desired.commit) record.commit = desired.commit;
    if (desired.commit && opts.commitMeta?.author) record.author = opts.commitMeta.author;
    if (desired.commit && opts.commitMeta?.subject) record.subject = opts.commitMeta.subject;
    record.command = opts.command;
    const inventory: Inventory = {
      formatVersion: 1, pbx: desired.pbx, release, appliedAt: record.time, appliedBy: record.user, salt: desired.salt,
      allocation: desired.allocation, resources: desired.resources, entries: desired.entries, files: hashes, planHash: record.planHash,
    };
    if (desired.commit) inventory.commit = desired.commit;
    await target.writeText(`${dir}/inventory.json`, `${JSON.stringify(inventory, null, 1)}\n`, { mode: 0o600 });
    progress('stage', 'done', `${files.length + 1} files${desired.prompts.length ? `, ${desired.prompts.length} prompts` : ''}`);

    let step: ApplyStep = 'switch';
    const reloads: string[] = [];
    try {
      progress('switch', 'start');
      await target.switchLink('current', dir);
      progress('switch', 'done', `current -> ${dir}`);
      step = 'reload';
      progress('reload', 'start', toReload.map(describeReload).join(', ') || 'nothing changed');
      for (const a of toReload) reloads.push(await reload(target, a));
      progress('reload', 'done');
      step = 'verify';
      progress('verify', 'start');
      await verify(target, desired.entries);
      progress('verify', 'done');
    } catch (err) {
      progress(step, 'failed', err instanceof Error ? err.message : String(err));
      const daemonLoadedNew = reloads.some((r) => r.startsWith('daemon.reload'));
      const problem = await rollback(target, previous, toReload, files.map((f) => f.path), progress, daemonLoadedNew);
      // The failed release is never pointed at again; keep it only if switching back failed.
      if (!problem?.startsWith('switching back failed')) await target.remove(dir);
      throw new ApplyFailedError(step, err, previous, true, problem);
    }

    progress('record', 'start');
    await target.appendText('state/deployments.jsonl', `${JSON.stringify(record)}\n`);
    await pruneReleases(target, opts.keepReleases ?? 10, release);
    progress('record', 'done', release);
    return { outcome: 'applied', release, previous, reloads, record };
  } finally {
    if (!opts.heldLock) await releaseLock(target, lock);
  }
}

/**
 * Points `current` back at `previous` and reloads what the failed apply reloaded (Kamailio, then
 * the feature daemon). Returns a description of what could not be restored (Kamailio or the daemon
 * down), or undefined when fully restored.
 * @param daemonLoadedNew whether the daemon had loaded the failed release's config
 */
async function rollback(target: Target, previous: string | undefined, reloads: ReloadAction[], paths: string[], progress: ApplyProgress, daemonLoadedNew: boolean): Promise<string | undefined> {
  progress('rollback', 'start', previous ? `back to release ${previous}` : 'back to no release');
  try {
    if (previous) {
      // db_text only re-reads a table whose mtime moved forward: touch the old files past the failed ones.
      for (const p of paths) {
        const failed = await target.stat(`current/${p}`);
        if (await target.stat(`releases/${previous}/${p}`)) await target.setMtime(`releases/${previous}/${p}`, nextMtime(failed?.mtimeMs));
      }
      await target.switchLink('current', `releases/${previous}`);
    } else {
      await target.remove('current');
    }
  } catch (e) {
    progress('rollback', 'failed', (e as Error).message);
    return `switching back failed: ${(e as Error).message}`;
  }
  const problems: string[] = [];
  try {
    for (const a of reloads) if (a.rpc !== 'daemon.reload') await reload(target, a);
  } catch (e) {
    problems.push(`Kamailio could not reload them (${(e as Error).message}); it loads them when it starts`);
  }
  if (reloads.some((a) => a.rpc === 'daemon.reload')) {
    if (!(await target.stat(`current/${FEATURE_CONFIG_FILE}`))) {
      // The release switched back to predates daemon/features.json (the lab's empty first release):
      // nothing to load. The daemon keeps what it runs, which only matters if that is the failed config.
      if (daemonLoadedNew) problems.push(`the feature daemon still runs the failed release's config (${previous ? `release ${previous}` : 'the node'} has no ${FEATURE_CONFIG_FILE} to go back to)`);
    } else {
      try {
        await reload(target, { rpc: 'daemon.reload' });
      } catch (e) {
        problems.push(`the feature daemon could not reload them (${(e as Error).message}); it loads them when it starts`);
      }
    }
  }
  if (problems.length) {
    progress('rollback', 'failed', problems.join('; '));
    return `the files are back on ${previous ?? 'no release'} but ${problems.join(', and ')}`;
  }
  progress('rollback', 'done');
  return undefined;
}

/** Removes the oldest releases beyond `keep`, never the current one. */
async function pruneReleases(target: Target, keep: number, current: string): Promise<void> {
  const all = (await target.list('releases')).filter((r) => !r.includes('.tmp-')).sort();
  const excess = all.filter((r) => r !== current).slice(0, Math.max(0, all.length - keep));
  for (const r of excess) await target.remove(`releases/${r}`);
}

