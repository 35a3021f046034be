import { Args, Flags } from '@oclif/core';
import { readPbxConfig } from '../config/repo-files.js';
import { commitInfo } from '../gitops/git.js';
import { readHistory, renderHistoryText, splitCommit, type History } from '../gitops/history.js';
import { BaseCommand } from '../lib/base-command.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';

export default class HistoryCommand extends BaseCommand {
  static override summary = 'List the deployments on a node (release, commit, author, time, changes).';
  static override description = `Reads the node's deployment records (state/deployments.jsonl, appended by every apply, sync and rollback) newest first, and marks the release the node runs now with *. Deployments recorded without the commit's author (a plain pbxctl apply) show it from the repo in DIR when the commit is there.

pbxctl rollback RELEASE|COMMIT redeploys one of them.`;
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --limit 5 --json'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list and commit authors).', default: '.' }) };
  static override flags = {
    target: targetFlag,
    limit: Flags.integer({ description: 'Show at most this many deployments.', min: 1 }),
  };

  async run(): Promise<History> {
    const { args, flags } = await this.parse(HistoryCommand);
    const pbx = await readPbxConfig(args.dir);
    const target = await openTarget(flags.target, pbx);
    let history: History;
    try {
      history = await readHistory(target, flags.limit);
    } finally {
      await target.close();
    }
    // Fill in authors the records lack from the local repo (display only; the records are not changed).
    const cache = new Map<string, { author: string; subject: string } | undefined>();
    for (const d of history.deployments) {
      if (!d.commit || d.author) continue;
      const { sha } = splitCommit(d.commit);
      if (!cache.has(sha)) cache.set(sha, await commitInfo(args.dir, sha).catch(() => undefined));
      const info = cache.get(sha);
      if (info) Object.assign(d, { author: info.author, ...(d.subject ? {} : { subject: info.subject }) });
    }
    if (!this.jsonEnabled()) this.log(renderHistoryText(history));
    return history;
  }
}
