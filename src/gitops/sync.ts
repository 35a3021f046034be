/**
 * `pbxctl sync`: pull-based GitOps, Flux-style. One cycle: fetch the ref into a local bare cache,
 * compare its commit with the one the node runs (the inventory's), and when they differ validate
 * the commit's tree, plan it against the live node and apply it. A commit that fails validation is
 * never applied: its diagnostics are printed (file:line:col) and the cycle fails.
 *
 * Never two commits at once: cycles on one machine for one source are serialized by a local sync
 * lock (taken before the fetch, so a sync that waited deploys the newest tip, not the commit it was
 * started for), and the node's apply lock (apply/lock.ts) serializes everything applying to a node.
 * A loop runs its cycles one after the other, never overlapping.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { acquireLock, releaseLock } from '../apply/lock.js';
import { readInventory } from '../apply/prepare.js';
import { readPbxConfig } from '../config/repo-files.js';
import { PbxError } from '../lib/errors.js';
import type { PbxConfig } from '../model/types.js';
import type { Inventory } from '../plan/types.js';
import type { Target } from '../targets/target.js';
import { commitLabel, deployTree, openCommitTree, type DeployReport } from './deploy.js';
import { cacheRepoFor, exportTree, fetchRef, isAncestor, normalizeSource, syncCacheRoot, type CommitInfo } from './git.js';
import { splitCommit } from './history.js';

/** How one sync cycle ended. */
export type SyncOutcome = 'up-to-date' | 'applied' | 'noop' | 'invalid' | 'failed' | 'skipped' | 'superseded';

/** One cycle's result (`pbxctl sync --json`). */
export interface SyncReport {
  outcome: SyncOutcome;
  source: string;
  ref: string;
  /** The fetched commit (absent when the fetch failed). */
  commit?: string;
  /** The commit the node ran before the cycle (inventory), if any. */
  deployedCommit?: string;
  target?: string;
  release?: string;
  /** The plan's counts when the cycle planned. */
  summary?: DeployReport['plan']['summary'];
  /** The error code and message of a failed or invalid cycle. */
  error?: { code: string; message: string; hint?: string };
}

/** Options of {@link syncOnce} and {@link syncLoop}. */
export interface SyncOptions {
  /** Repo URL or directory (a bare repo on the node, a work tree, a remote). */
  repo: string;
  /** Branch, tag or ref to deploy. */
  ref: string;
  /** `--target`; default the repo's only node. */
  targetName?: string;
  secretsFile?: string;
  /** Wait for the node's apply lock (ms); default 0 (fail at once with LOCKED). */
  lockTimeoutMs?: number;
  /** Cache root for the bare repos (default git.ts syncCacheRoot). */
  cacheRoot?: string;
  promptCacheDir?: string;
  keepReleases?: number;
  /**
   * Deploy the fetched commit even when the node runs a newer one (a descendant of it). Without
   * it such a cycle is `superseded`: a re-run of an old CI job, or a sync that waited while a newer
   * commit was deployed, must not take the node backwards (`pbxctl rollback` does that on purpose).
   */
  allowOlder?: boolean;
  log: (line: string) => void;
  color: boolean;
  tty: boolean;
  /** Opens the node (targets/resolve.ts openTarget; injected in tests). */
  openTarget: (name: string | undefined, pbx: PbxConfig | undefined) => Promise<Target>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding the local lock file `path` (exclusive create; pid and host inside). A lock whose
 * process on this host is gone is removed (it is local and its holder provably dead, unlike the
 * node's apply lock). Waits up to `timeoutMs`, polling every 200 ms.
 * @throws PbxError SYNC_BUSY when another sync holds it past the timeout
 */
export async function withLocalLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = await readFile(path, 'utf8').then((t) => JSON.parse(t) as { pid: number; host: string; since: string }).catch(() => undefined);
      if (held && held.host === hostname() && !alive(held.pid)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new PbxError('SYNC_BUSY', `another pbxctl sync of this repo is running (pid ${held?.pid ?? '?'} since ${held?.since ?? '?'})`, {
          hint: 'It deploys the newest commit of the ref when it is done; or wait with --lock-timeout 5m.',
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** The error fields of a report. */
function errorOf(e: unknown): SyncReport['error'] {
  if (e instanceof PbxError) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

/**
 * One sync cycle. Never throws for a failed deployment: the report says what happened (the command
 * turns `invalid` and `failed` into exit 1, and a LOCKED error into 75).
 * @param skip commits already handled by an earlier cycle of a loop that need no new attempt
 *   (valid commits that planned no changes, invalid commits): the cycle reports `skipped`
 */
export async function syncOnce(opts: SyncOptions, skip: ReadonlySet<string> = new Set()): Promise<SyncReport> {
  const source = normalizeSource(opts.repo);
  const cache = cacheRepoFor(source, opts.cacheRoot ?? syncCacheRoot());
  const report: SyncReport = { outcome: 'failed', source, ref: opts.ref };
  const log = (l: string) => opts.log(l);
  try {
    return await withLocalLock(`${cache}.lock`, Math.max(opts.lockTimeoutMs ?? 0, 0), async () => {
      log(`sync: fetching ${opts.ref} from ${source}`);
      const commit = await fetchRef(source, opts.ref, cache);
      report.commit = commit.sha;
      if (skip.has(commit.sha)) {
        report.outcome = 'skipped';
        log(`sync: ${opts.ref} is still at ${commitLabel(commit)}, handled already`);
        return report;
      }
      const tree = await exportTree(cache, commit.sha);
      try {
        // Which node: from the commit's pbx.yaml (read leniently: an invalid commit still names its nodes).
        const pbx = await readPbxConfig(tree.dir);
        const target = await opts.openTarget(opts.targetName, pbx);
        report.target = target.name;
        try {
          return await cycleOnTarget(target, commit, tree.dir, cache, opts, report);
        } finally {
          await target.close();
        }
      } finally {
        await tree.cleanup();
      }
    });
  } catch (e) {
    report.outcome = e instanceof PbxError && e.code === 'INVALID_COMMIT' ? 'invalid' : 'failed';
    report.error = errorOf(e);
    return report;
  }
}

/**
 * Whether the node's deployed commit ends the cycle: `same` (it runs the fetched commit) or `newer`
 * (it runs a descendant of it, and `allowOlder` is off). A dirty deployment (uncommitted files on
 * top of a commit) never ends it: the fetched commit brings the node back to committed state.
 */
async function deployedVerdict(inventory: Inventory | undefined, commit: CommitInfo, cache: string, allowOlder: boolean): Promise<'same' | 'newer' | undefined> {
  if (!inventory?.commit) return undefined;
  const { sha, dirty } = splitCommit(inventory.commit);
  if (dirty) return undefined;
  if (sha === commit.sha) return 'same';
  if (!allowOlder && /^[0-9a-f]{40,64}$/i.test(sha) && (await isAncestor(cache, commit.sha, sha))) return 'newer';
  return undefined;
}

/** Ends the cycle for a {@link deployedVerdict}; returns the report. */
function stopFor(verdict: 'same' | 'newer', target: Target, inventory: Inventory, commit: CommitInfo, opts: SyncOptions, report: SyncReport): SyncReport {
  report.release = inventory.release;
  if (verdict === 'same') {
    report.outcome = 'up-to-date';
    opts.log(`sync: ${target.name} already runs ${commitLabel(commit)} (release ${inventory.release}); nothing to do`);
  } else {
    report.outcome = 'superseded';
    opts.log(`sync: ${target.name} runs ${inventory.commit!.slice(0, 12)} (release ${inventory.release}), which is newer than ${commitLabel(commit)}: not going backwards (pbxctl rollback does that on purpose; --allow-older forces it)`);
  }
  return report;
}

async function cycleOnTarget(target: Target, commit: CommitInfo, tree: string, cache: string, opts: SyncOptions, report: SyncReport): Promise<SyncReport> {
  const before = await readInventory(target);
  if (before?.commit) report.deployedCommit = before.commit;
  const verdict = await deployedVerdict(before, commit, cache, !!opts.allowOlder);
  if (verdict) return stopFor(verdict, target, before!, commit, opts, report);
  opts.log(`sync: ${opts.ref} is at ${commitLabel(commit)}; ${target.name} runs ${before?.commit ? `${before.commit.slice(0, 12)} (release ${before.release})` : before ? `release ${before.release} (no commit recorded)` : 'nothing deployed by pbxctl'}`);
  // Validate before taking the node's lock: an invalid commit must not hold up other deployments.
  await openCommitTree(tree, commit, opts.secretsFile, opts.log, opts.color);
  opts.log(`sync: ${commit.sha.slice(0, 12)} is valid; planning against ${target.name} (${target.description})`);
  const lock = await acquireLock(target, `pbxctl sync ${opts.ref} (${commit.sha.slice(0, 12)})`, opts.lockTimeoutMs ?? 0);
  try {
    // Another deployment may have finished while this one waited for the lock (a CI job and a
    // post-receive hook on one node): judge again against what the node runs now.
    const now = await readInventory(target);
    if (now && now.release !== before?.release) {
      const again = await deployedVerdict(now, commit, cache, !!opts.allowOlder);
      if (again) return stopFor(again, target, now, commit, opts, report);
    }
    const r = await deployTree(target, {
      tree, commit, lock, command: `pbxctl sync ${report.source} ${opts.ref}`, log: opts.log, color: opts.color, tty: opts.tty,
      ...(opts.secretsFile ? { secretsFile: opts.secretsFile } : {}),
      ...(opts.keepReleases ? { keepReleases: opts.keepReleases } : {}),
      ...(opts.promptCacheDir ? { promptCacheDir: opts.promptCacheDir } : {}),
    });
    report.summary = r.plan.summary;
    report.outcome = r.outcome === 'applied' ? 'applied' : 'noop';
    if (r.release) report.release = r.release;
    if (r.outcome !== 'applied') opts.log(`sync: ${commitLabel(commit)} changes nothing on ${target.name}; no release written`);
    return report;
  } finally {
    await releaseLock(target, lock);
  }
}

/** Sleeps `ms` unless `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs cycles every `intervalMs` (measured from the end of one cycle to the start of the next, so
 * cycles never overlap) until `signal` aborts; an abort during a cycle lets it finish first (an
 * apply is never cut in the middle). Failed cycles are reported and retried next time; commits that
 * planned no changes or failed validation are not re-tried until the ref moves.
 * @param onCycle called with each cycle's report
 * @returns the number of cycles run
 */
export async function syncLoop(opts: SyncOptions, intervalMs: number, signal: AbortSignal, onCycle: (r: SyncReport) => void): Promise<number> {
  const handled = new Set<string>();
  let cycles = 0;
  while (!signal.aborted) {
    const r = await syncOnce(opts, handled);
    cycles++;
    if (r.commit && (r.outcome === 'noop' || r.outcome === 'invalid' || r.outcome === 'superseded')) handled.add(r.commit);
    onCycle(r);
    await sleep(intervalMs, signal);
  }
  return cycles;
}

/** Where a cycle's human log ends: one closing line saying what happened. Pure. */
export function describeReport(r: SyncReport): string {
  const c = r.commit ? r.commit.slice(0, 12) : '(not fetched)';
  switch (r.outcome) {
    case 'applied': return `sync: deployed ${c} to ${r.target} as release ${r.release}`;
    case 'up-to-date': return `sync: ${r.target} is up to date with ${r.ref} (${c})`;
    case 'noop': return `sync: ${c} needs no change on ${r.target}`;
    case 'skipped': return `sync: no new commit on ${r.ref} (${c})`;
    case 'superseded': return `sync: ${r.target} runs a newer commit than ${r.ref} (${c}); left as it is`;
    case 'invalid': return `sync: REFUSED ${c}: ${r.error?.message ?? 'invalid'}`;
    case 'failed': return `sync: FAILED${r.commit ? ` to deploy ${c}` : ''}: ${r.error ? `[${r.error.code}] ${r.error.message}` : 'unknown error'}${r.error?.hint ? `\n  hint: ${r.error.hint}` : ''}`;
  }
}
