/**
 * Deploying one commit's tree through the same path as `pbxctl apply` (validate -> plan -> show the
 * plan -> confirm -> render prompts -> apply/executor.ts applyNode): what `pbxctl sync` and
 * `pbxctl rollback` share. The caller holds the node's apply lock for the whole call (taken before
 * planning, as apply does), so the plan shown is the plan applied.
 */
import { applyNode, type ApplyResult } from '../apply/executor.js';
import type { LockInfo } from '../apply/lock.js';
import { planFor } from '../apply/prepare.js';
import { renderNodePrompts } from '../apply/prompts.js';
import { openRepo } from '../config/open-repo.js';
import type { Diagnostic } from '../lib/diagnostics.js';
import { PbxError } from '../lib/errors.js';
import { hasChanges, type Plan } from '../plan/types.js';
import { renderDiagnosticsText } from '../render/diagnostics.js';
import { planSummaryLine, renderPlanText } from '../render/plan.js';
import { progressPrinter } from '../render/progress.js';
import type { Target } from '../targets/target.js';
import type { CommitInfo } from './git.js';

/** How a deployment ended. */
export type DeployOutcome = 'applied' | 'noop' | 'cancelled';

/** What {@link deployTree} reports (part of sync's and rollback's `--json` results). */
export interface DeployReport {
  outcome: DeployOutcome;
  commit: string;
  plan: Plan;
  release?: string;
  previous?: string;
  reloads?: string[];
}

/** Options of {@link deployTree}. */
export interface DeployOptions {
  /** The exported tree of `commit` (git.ts exportTree). */
  tree: string;
  commit: CommitInfo;
  /** Secrets file (--secrets); else pbx.yaml's secrets.file inside the tree, then the environment. */
  secretsFile?: string;
  /** The node's apply lock, held by the caller. */
  lock: LockInfo;
  /** Recorded in the deployment record (`pbxctl sync`, `pbxctl rollback ...`). */
  command: string;
  /** Asked after the plan is shown when there are changes; false cancels with nothing changed. */
  confirm?: (plan: Plan) => Promise<boolean>;
  /** One line of human output (plan, progress, outcome). */
  log: (line: string) => void;
  color: boolean;
  /** Progress as check marks (TTY) or `apply: step status` lines (CI logs, git hooks). */
  tty: boolean;
  keepReleases?: number;
  /** Prompt cache (tests); default $XDG_CACHE_HOME/pbxctl/prompts. */
  promptCacheDir?: string;
}

/** Short commit label for output: `3fa2c1d9e0b1 "Add Carol" (Alice)`. Pure. */
export function commitLabel(c: CommitInfo): string {
  const who = c.author.replace(/\s*<[^>]*>\s*$/, '');
  return `${c.sha.slice(0, 12)}${c.subject ? ` "${c.subject}"` : ''}${who ? ` (${who})` : ''}`;
}

/**
 * Validates the tree; on errors prints every diagnostic as `file:line:col` (repo-relative) and
 * throws, with nothing planned or applied.
 * @throws PbxError INVALID_COMMIT (exit 1) naming the commit; SECRETS_UNRESOLVED
 */
export async function openCommitTree(tree: string, commit: CommitInfo, secretsFile: string | undefined, log: (line: string) => void, color: boolean) {
  const print = (d: Diagnostic[]) => log(renderDiagnosticsText(d, { color, prefix: '' }));
  try {
    const repo = await openRepo(tree, { secretsFile, onDiagnostics: print });
    // Warnings do not stop a deployment, but whoever pushed should see them.
    if (repo.diagnostics.length) print(repo.diagnostics);
    return repo;
  } catch (e) {
    if (e instanceof PbxError && e.code === 'INVALID_REPO') {
      throw new PbxError('INVALID_COMMIT', `commit ${commitLabel(commit)} fails validation (${e.message.replace(/^.* has /, '')}); nothing was applied`, {
        hint: 'Fix the problems listed above (pbxctl validate shows them too) and commit again; the node stays on the release it runs.',
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * Validates, plans, shows the plan, confirms, renders prompts and applies the tree of `commit`.
 * @throws PbxError INVALID_COMMIT, SECRETS_UNRESOLVED, DOMAIN_MISMATCH, DAEMON_UNREACHABLE,
 *   STALE_PLAN, PromptRenderError, ApplyFailedError (the node is back on its previous release)
 */
export async function deployTree(target: Target, opts: DeployOptions): Promise<DeployReport> {
  const repo = await openCommitTree(opts.tree, opts.commit, opts.secretsFile, opts.log, opts.color);
  const { plan, desired } = await planFor(target, repo.state, repo.secrets, { repoDir: opts.tree, commit: opts.commit.sha });
  opts.log(renderPlanText(plan, { color: opts.color }));
  if (!hasChanges(plan)) return { outcome: 'noop', commit: opts.commit.sha, plan };
  if (opts.confirm && !(await opts.confirm(plan))) return { outcome: 'cancelled', commit: opts.commit.sha, plan };
  opts.log('');
  const progress = progressPrinter(opts.log, { tty: opts.tty, color: opts.color });
  progress('render', 'start', `${desired.prompts.length} prompts`);
  let readPrompt;
  try {
    const r = await renderNodePrompts(desired.prompts, { repoDir: opts.tree, ...(opts.promptCacheDir ? { cacheDir: opts.promptCacheDir } : {}) });
    progress('render', 'done', `${r.rendered.length - r.cached} rendered, ${r.cached} cached`);
    readPrompt = r.read;
  } catch (e) {
    progress('render', 'failed', e instanceof Error ? e.message : String(e));
    throw e;
  }
  const result: ApplyResult = await applyNode(target, desired, plan, {
    command: opts.command,
    heldLock: opts.lock,
    keepReleases: opts.keepReleases,
    onProgress: progress,
    readPrompt,
    commitMeta: { author: opts.commit.author, subject: opts.commit.subject },
  });
  if (result.outcome === 'noop') {
    opts.log('\nNo changes: the node already matched.');
    return { outcome: 'noop', commit: opts.commit.sha, plan };
  }
  opts.log(`\nApplied release ${result.release} (commit ${commitLabel(opts.commit)}) to ${target.name}. ${planSummaryLine(plan).replace(/^Plan: /, '')}`);
  return { outcome: 'applied', commit: opts.commit.sha, plan, release: result.release, ...(result.previous ? { previous: result.previous } : {}), reloads: result.reloads };
}
