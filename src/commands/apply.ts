import { Args, Flags } from '@oclif/core';
import { createInterface } from 'node:readline/promises';
import { applyNode, type ApplyProgress, type ApplyResult } from '../apply/executor.js';
import { commitInfo } from '../gitops/git.js';
import { acquireLock, releaseLock } from '../apply/lock.js';
import { planFor, type PreparedNode } from '../apply/prepare.js';
import { renderNodePrompts, type PromptReader } from '../apply/prompts.js';
import { openRepo } from '../config/open-repo.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { lockTimeoutFlag, secretsFlag, targetFlag } from '../lib/flags.js';
import { looksLikePlanFile, readPlanFile } from '../plan/plan-file.js';
import { hasChanges } from '../plan/types.js';
import { useColor } from '../render/color.js';
import { renderDiagnosticsText } from '../render/diagnostics.js';
import { planSummaryLine, renderPlanText } from '../render/plan.js';
import { progressPrinter } from '../render/progress.js';
import { openTarget } from '../targets/resolve.js';

export default class Apply extends BaseCommand {
  static override summary = 'Make a node match the repo (or a saved plan).';
  static override description = `Shows the plan and asks for confirmation, then: takes the node's lock, renders the prompts the release plays (espeak-ng and sox, cached in $XDG_CACHE_HOME/pbxctl/prompts), writes a new release directory, switches current to it atomically, reloads only the Kamailio data that changed and the feature daemon's config, verifies the live state equals the plan's target and records the deployment. Any failure switches back to the previous release and reloads it. A no-op apply writes and reloads nothing.

With a saved plan (pbxctl plan --out FILE) it applies exactly that plan, and refuses if the node or the repo changed since.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> examples/small-office --target lab',
    '<%= config.bin %> <%= command.id %> --auto-approve',
    '<%= config.bin %> <%= command.id %> plan.json',
  ];
  static override enableJsonFlag = true;
  static override args = { source: Args.string({ description: 'Repo directory, or a plan file from pbxctl plan --out.', default: '.' }) };
  static override flags = {
    target: targetFlag,
    secrets: secretsFlag,
    'auto-approve': Flags.boolean({ description: 'Apply without asking for confirmation.' }),
    'lock-timeout': lockTimeoutFlag,
    'keep-releases': Flags.integer({ description: 'Releases to keep on the node.', default: 10, min: 2 }),
  };

  async run(): Promise<ApplyResult> {
    const { args, flags } = await this.parse(Apply);
    const saved = looksLikePlanFile(args.source) ? await readPlanFile(args.source) : undefined;
    const dir = saved?.repo ?? args.source;
    const json = this.jsonEnabled();
    const log = (line: string) => (json ? this.logToStderr(line) : this.log(line));
    const repo = await openRepo(dir, { secretsFile: flags.secrets, onDiagnostics: (d) => this.logToStderr(renderDiagnosticsText(d, { color: false, prefix: dir })) });
    const target = await openTarget(flags.target ?? saved?.plan.target, repo.state.pbx);
    // Like Terraform, lock before planning: the plan the user approves is the one applied, and a
    // second apply fails fast on the lock (exit 75) instead of later on a stale plan.
    const lock = await acquireLock(target, `pbxctl apply ${args.source}`, flags['lock-timeout'] ?? 0).catch(async (e: unknown) => {
      await target.close();
      throw e;
    });
    try {
      const { plan, desired } = await planFor(target, repo.state, repo.secrets, { repoDir: dir, commit: repo.commit, freshSalt: saved?.salt });
      if (saved) {
        if (saved.plan.target !== target.name) throw new PbxError('STALE_PLAN', `the plan was made for node ${saved.plan.target}, not ${target.name}`);
        if (saved.plan.liveHash !== plan.liveHash) throw new PbxError('STALE_PLAN', `node ${target.name} changed since the plan was made`, { hint: 'Run pbxctl plan again and review the new plan.' });
        if (saved.plan.desiredHash !== plan.desiredHash) throw new PbxError('STALE_PLAN', `the repo ${dir} changed since the plan was made`, { hint: 'Run pbxctl plan again and review the new plan.' });
      }
      const color = useColor(process.stdout) && !json;
      log(renderPlanText(plan, { color }));
      if (!hasChanges(plan)) return { outcome: 'noop', reloads: [] };
      if (!flags['auto-approve'] && !saved) await this.confirm(target.name);
      log('');
      const onProgress = progressPrinter(log, { tty: !!process.stdout.isTTY && !json, color });
      const readPrompt = await this.renderPrompts(desired, dir, onProgress);
      // A dirty tree (`SHA+dirty`) records the SHA it started from, but its author did not write what is applied.
      const meta = repo.commit && !repo.commit.endsWith('+dirty') ? await commitInfo(dir, repo.commit).catch(() => undefined) : undefined;
      const result = await applyNode(target, desired, saved?.plan ?? plan, {
        ...(meta ? { commitMeta: { author: meta.author, subject: meta.subject } } : {}),
        command: `pbxctl apply ${args.source}`,
        heldLock: lock,
        keepReleases: flags['keep-releases'],
        onProgress,
        readPrompt,
      });
      log(result.outcome === 'noop' ? '\nNo changes: the node already matched.' : `\nApplied release ${result.release} to ${target.name}. ${planSummaryLine(plan).replace(/^Plan: /, '')}`);
      return result;
    } finally {
      await releaseLock(target, lock);
      await target.close();
    }
  }

  /**
   * Renders the release's prompts into the local cache before the executor stages anything, so a
   * missing espeak-ng/sox or a changed audio file fails with nothing written on the node.
   * @throws PromptRenderError (media/prompt-render.ts)
   */
  private async renderPrompts(desired: PreparedNode, repoDir: string, progress: ApplyProgress): Promise<PromptReader> {
    progress('render', 'start', `${desired.prompts.length} prompts`);
    try {
      const r = await renderNodePrompts(desired.prompts, { repoDir });
      progress('render', 'done', `${r.rendered.length - r.cached} rendered, ${r.cached} cached`);
      return r.read;
    } catch (e) {
      progress('render', 'failed', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  /** Asks like Terraform; only "yes" proceeds. Refuses without a TTY. */
  private async confirm(targetName: string): Promise<void> {
    if (!process.stdin.isTTY) {
      throw new PbxError('CONFIRMATION_REQUIRED', 'apply needs confirmation and there is no terminal to ask on', { hint: 'Review the plan, then pass --auto-approve (CI) or apply a saved plan file.' });
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const answer = await rl.question(`\nApply these changes to ${targetName}? Only 'yes' will be accepted: `);
      if (answer.trim() !== 'yes') throw new PbxError('APPLY_CANCELLED', 'apply cancelled; nothing was changed');
    } finally {
      rl.close();
    }
  }
}
