import { Args, Flags } from '@oclif/core';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { acquireLock, releaseLock } from '../apply/lock.js';
import { readPbxConfig } from '../config/repo-files.js';
import { commitLabel, deployTree, type DeployReport } from '../gitops/deploy.js';
import { commitInfo, exportTree, resolveCommit } from '../gitops/git.js';
import { findRollbackTarget, readHistory, splitCommit } from '../gitops/history.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { lockTimeoutFlag, secretsFlag, targetFlag } from '../lib/flags.js';
import { useColor } from '../render/color.js';
import { openTarget } from '../targets/resolve.js';

export default class Rollback extends BaseCommand {
  static override summary = 'Redeploy an earlier deployment (a release or a commit) through plan and apply.';
  static override description = `Finds what to go back to: with no argument the deployment before the current one; else a release id from pbxctl history, or a commit (a SHA prefix of a deployed commit, or any commit of the repo). Then exports that commit's tree from the repo (--repo, default .), validates it, shows the plan against the live node and asks (only 'yes' proceeds; --yes skips the question), and applies it as a new release, recorded like any deployment. Refuses when the commit is not in the repo (fetch it first) or the deployment was made from uncommitted files.

Secrets come from --secrets, else the repo's own secrets file (pbx.yaml secrets.file, git-ignored and so not in the commit), then the environment.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --target lab',
    '<%= config.bin %> <%= command.id %> 20261121T164600Z-3fa2 --yes',
    '<%= config.bin %> <%= command.id %> 3fa2c1d --repo ~/pbx',
  ];
  static override enableJsonFlag = true;
  static override args = { which: Args.string({ description: 'Release id or commit to go back to. Default: the deployment before the current one.' }) };
  static override flags = {
    repo: Flags.directory({ description: 'The git repo holding the commit.', default: '.' }),
    target: targetFlag,
    secrets: secretsFlag,
    yes: Flags.boolean({ char: 'y', description: 'Apply without asking for confirmation.', aliases: ['auto-approve'] }),
    'lock-timeout': lockTimeoutFlag,
    'keep-releases': Flags.integer({ description: 'Releases to keep on the node.', default: 10, min: 2 }),
  };

  async run(): Promise<DeployReport & { target: string }> {
    const { args, flags } = await this.parse(Rollback);
    const json = this.jsonEnabled();
    const log = (line: string) => (json ? this.logToStderr(line) : this.log(line));
    const pbx = await readPbxConfig(flags.repo);
    const target = await openTarget(flags.target, pbx);
    try {
      const history = await readHistory(target);
      const record = findRollbackTarget(history, args.which);
      let sha: string | undefined;
      if (record) {
        if (!record.commit) throw new PbxError('ROLLBACK_NO_COMMIT', `release ${record.release} was applied from a directory outside git; there is no commit to redeploy`, { hint: 'Roll back to a deployment that shows a commit in pbxctl history, or name a commit of the repo.' });
        const c = splitCommit(record.commit);
        if (c.dirty) throw new PbxError('ROLLBACK_DIRTY', `release ${record.release} was applied from uncommitted changes on top of ${c.sha.slice(0, 12)}; its exact files are not in git`, { hint: `Name the commit to deploy instead (pbxctl rollback ${c.sha.slice(0, 12)}), after checking it is what you want.` });
        sha = await resolveCommit(flags.repo, c.sha);
        if (!sha) throw new PbxError('COMMIT_NOT_IN_REPO', `commit ${c.sha.slice(0, 12)} (release ${record.release}) is not in the repo ${flags.repo}`, { hint: 'Fetch it (git fetch --all), or pass --repo with a clone that has it.' });
      } else {
        sha = await resolveCommit(flags.repo, args.which!);
        if (!sha) throw new PbxError('COMMIT_NOT_IN_REPO', `"${args.which}" is neither a release in ${target.name}'s history nor a commit of the repo ${flags.repo}`, { hint: 'pbxctl history lists the releases and commits; git fetch brings missing commits.' });
      }
      const commit = await commitInfo(flags.repo, sha);
      const current = history.deployments.find((d) => d.current);
      log(`Rolling ${target.name} back from ${current ? `release ${current.release}${current.commit ? ` (commit ${current.commit.slice(0, 12)})` : ''}` : 'its current state'} to commit ${commitLabel(commit)}${record ? `, deployed as release ${record.release} on ${record.time}` : ''}.\n`);
      const secretsFile = flags.secrets ?? (await this.repoSecretsFile(flags.repo, pbx?.secrets?.file));
      const tree = await exportTree(flags.repo, sha);
      try {
        const lock = await acquireLock(target, `pbxctl rollback ${args.which ?? ''}`.trim(), flags['lock-timeout'] ?? 0);
        try {
          const color = useColor(process.stdout) && !json;
          const report = await deployTree(target, {
            tree: tree.dir, commit, lock, command: `pbxctl rollback ${args.which ?? `(previous: ${record?.release})`}`, log, color, tty: !!process.stdout.isTTY && !json,
            keepReleases: flags['keep-releases'], ...(secretsFile ? { secretsFile } : {}),
            ...(flags.yes ? {} : { confirm: () => this.confirm(target.name) }),
          });
          if (report.outcome === 'noop') log(`\n${target.name} already runs what commit ${commit.sha.slice(0, 12)} describes; nothing was changed.`);
          return { ...report, target: target.name };
        } finally {
          await releaseLock(target, lock);
        }
      } finally {
        await tree.cleanup();
      }
    } finally {
      await target.close();
    }
  }

  /** The repo work tree's own secrets file, when it exists (git-ignored, so not in the exported commit). */
  private async repoSecretsFile(repo: string, name: string | undefined): Promise<string | undefined> {
    const path = resolve(repo, name ?? '.secrets.yaml');
    return (await stat(path).catch(() => undefined))?.isFile() ? path : undefined;
  }

  /** Asks like apply; only "yes" proceeds. Refuses without a TTY. */
  private async confirm(targetName: string): Promise<boolean> {
    if (!process.stdin.isTTY) {
      throw new PbxError('CONFIRMATION_REQUIRED', 'rollback needs confirmation and there is no terminal to ask on', { hint: 'Review the plan, then pass --yes.' });
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const answer = await rl.question(`\nRoll ${targetName} back with these changes? Only 'yes' will be accepted: `);
      if (answer.trim() !== 'yes') throw new PbxError('ROLLBACK_CANCELLED', 'rollback cancelled; nothing was changed');
      return true;
    } finally {
      rl.close();
    }
  }
}
