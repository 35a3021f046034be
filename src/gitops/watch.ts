/**
 * `pbxctl watch`: the edit loop. Watches a repo directory (chokidar) and, after each burst of saves
 * (debounced), re-validates and re-plans it, printing diagnostics and the plan. It applies only
 * when asked (`--apply`) and only to the local lab node: a save must never reach a real PBX.
 *
 * Cycles never overlap: saves during a cycle schedule exactly one more cycle after it.
 */
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { basename, relative } from 'node:path';
import { applyNode } from '../apply/executor.js';
import { acquireLock, releaseLock } from '../apply/lock.js';
import { planFor } from '../apply/prepare.js';
import { renderNodePrompts } from '../apply/prompts.js';
import { validateRepoDir } from '../config/validate.js';
import { isFailing } from '../lib/diagnostics.js';
import { PbxError } from '../lib/errors.js';
import type { NodeSpec, PbxConfig } from '../model/types.js';
import { hasChanges } from '../plan/types.js';
import { renderDiagnosticsText, renderSummary } from '../render/diagnostics.js';
import { planSummaryLine, renderPlanText } from '../render/plan.js';
import { progressPrinter } from '../render/progress.js';
import type { Target } from '../targets/target.js';

/** Files and folders the repo loader skips (config/repo-files.ts): dot-files, node_modules. */
export function ignoredPath(root: string, path: string): boolean {
  const rel = relative(root, path);
  if (!rel || rel.startsWith('..')) return false;
  return rel.split(/[\\/]/).some((part) => part.startsWith('.') || part === 'node_modules') || basename(path).endsWith('~');
}

/**
 * Whether `--target NAME` (or the repo's only node) resolves to the local lab node, mirroring
 * targets/resolve.ts openTarget: `lab` without a pbx.yaml entry, or a local node named lab without
 * a dir. Pure.
 */
export function isLabTarget(name: string | undefined, pbx: Pick<PbxConfig, 'nodes'> | undefined): boolean {
  const nodes: NodeSpec[] = pbx?.nodes ?? [];
  const node = name ? nodes.find((n) => n.name === name) : nodes.length === 1 ? nodes[0] : undefined;
  if (!node) return name === 'lab';
  return node.name === 'lab' && node.type === 'local' && !node.dir;
}

/** A running watcher. */
export interface RepoWatcher {
  /** Resolves once the initial scan is done and changes are being watched. */
  ready: Promise<void>;
  /** Stops watching; waits for a running cycle to end. */
  close(): Promise<void>;
}

/**
 * Watches `dir` and calls `cycle` with the changed paths (repo-relative) after `debounceMs` without
 * further changes. One cycle at a time; changes during a cycle trigger one more.
 * @param opts.initial run a cycle at once (before any change); opts.onError gets what a cycle throws
 */
export function watchRepo(dir: string, cycle: (changed: string[]) => Promise<void>, opts: { debounceMs: number; initial?: boolean; onError?: (e: unknown) => void }): RepoWatcher {
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  const fire = () => {
    timer = undefined;
    if (closed) return;
    if (running) return; // the running cycle re-fires when it ends
    const changed = [...pending].sort();
    pending.clear();
    // A cycle that throws is a bug (watchCycle reports problems itself): report it, keep watching.
    running = cycle(changed).catch((e: unknown) => opts.onError?.(e)).finally(() => {
      running = undefined;
      if (pending.size && !closed) timer = setTimeout(fire, opts.debounceMs);
    });
  };
  const onEvent = (path: string) => {
    pending.add(relative(dir, path) || '.');
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, opts.debounceMs);
  };
  const watcher: FSWatcher = chokidarWatch(dir, {
    ignoreInitial: true,
    ignored: (p: string) => ignoredPath(dir, p),
    // Editors save by writing a temp file and renaming it: wait for the write to settle.
    awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 },
    atomic: true,
  });
  for (const ev of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) watcher.on(ev, onEvent);
  const ready = new Promise<void>((resolve, reject) => {
    watcher.once('ready', () => resolve());
    watcher.once('error', reject);
  }).then(() => {
    if (opts.initial) {
      pending.add('.');
      fire();
    }
  });
  return {
    ready,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}

/** Options of {@link watchCycle}. */
export interface WatchCycleOptions {
  dir: string;
  secretsFile?: string;
  targetName?: string;
  /** Apply after a successful plan with changes (only allowed on the lab node; checked by the command). */
  apply: boolean;
  log: (line: string) => void;
  color: boolean;
  openTarget: (name: string | undefined, pbx: PbxConfig | undefined) => Promise<Target>;
  promptCacheDir?: string;
}

/** What one cycle found (for tests and the summary line). */
export interface WatchCycleResult {
  valid: boolean;
  errors: number;
  warnings: number;
  /** Set when the cycle planned: whether the plan had changes; `applied` when it applied them. */
  planned?: 'changes' | 'no-changes';
  applied?: string;
  /** Why planning or applying failed (the node unreachable...). */
  problem?: string;
}

/**
 * One watch cycle: validate, print diagnostics; when valid, plan against the target and print the
 * plan; with `apply`, apply it (lock, prompts, executor). Never throws: problems are printed and
 * returned (the loop goes on to the next save).
 */
export async function watchCycle(opts: WatchCycleOptions): Promise<WatchCycleResult> {
  const { log, color } = opts;
  let result: Awaited<ReturnType<typeof validateRepoDir>>;
  try {
    result = await validateRepoDir(opts.dir, { strict: false, secretsFile: opts.secretsFile });
  } catch (e) {
    // A missing directory or unreadable secrets file: say so and wait for the next save.
    const msg = e instanceof Error ? e.message : String(e);
    log(`watch: cannot read ${opts.dir}: ${msg}`);
    return { valid: false, errors: 1, warnings: 0, problem: msg };
  }
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const out: WatchCycleResult = { valid: !isFailing(result.diagnostics, false), errors, warnings: result.diagnostics.length - errors };
  if (result.diagnostics.length) log(renderDiagnosticsText(result.diagnostics, { color, prefix: opts.dir }));
  log(renderSummary(result.diagnostics, result.stats, { color, strict: false }));
  if (!out.valid || !result.state) {
    log('watch: not planning until the errors are fixed');
    return out;
  }
  if (result.diagnostics.some((d) => d.rule === 'unresolved-secret')) {
    log('watch: not planning: some secrets have no value (pass --secrets FILE)');
    return { ...out, problem: 'unresolved secrets' };
  }
  let target: Target | undefined;
  try {
    target = await opts.openTarget(opts.targetName, result.state.pbx);
    const { plan, desired } = await planFor(target, result.state, result.secrets, { repoDir: opts.dir });
    log(renderPlanText(plan, { color }));
    out.planned = hasChanges(plan) ? 'changes' : 'no-changes';
    if (opts.apply && hasChanges(plan)) {
      const lock = await acquireLock(target, 'pbxctl watch --apply');
      try {
        const progress = progressPrinter(log, { tty: false, color });
        const prompts = await renderNodePrompts(desired.prompts, { repoDir: opts.dir, ...(opts.promptCacheDir ? { cacheDir: opts.promptCacheDir } : {}) });
        const r = await applyNode(target, desired, plan, { command: 'pbxctl watch --apply', heldLock: lock, onProgress: progress, readPrompt: prompts.read });
        if (r.release) out.applied = r.release;
        log(r.outcome === 'noop' ? 'watch: nothing to apply' : `watch: applied release ${r.release} to ${target.name}. ${planSummaryLine(plan).replace(/^Plan: /, '')}`);
      } finally {
        await releaseLock(target, lock);
      }
    }
  } catch (e) {
    const msg = e instanceof PbxError ? `[${e.code}] ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}` : e instanceof Error ? e.message : String(e);
    log(`watch: ${opts.apply ? 'plan/apply' : 'plan'} failed: ${msg}`);
    out.problem = msg;
  } finally {
    await target?.close();
  }
  return out;
}
