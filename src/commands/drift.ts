import { Args } from '@oclif/core';
import { readPbxConfig } from '../config/repo-files.js';
import { detectDrift, renderDriftText, type DriftReport } from '../gitops/drift.js';
import { BaseCommand } from '../lib/base-command.js';
import { ExitCode } from '../lib/exit-codes.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';

export default class Drift extends BaseCommand {
  static override summary = 'Check whether the live node still matches its deployed commit.';
  static override description = `Compares the node's live state (Kamailio's RPC dumps, the feature daemon's running config) and its release files with what the deployed release recorded (its inventory: every entry apply wrote, the hash of every file). Needs no repo and no secrets, only the node: made for scheduled CI jobs.

Exit codes: 0 in sync, 2 drift found, 1 error (e.g. the node cannot be read, or nothing was deployed).`;
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --json'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = { target: targetFlag };

  async run(): Promise<DriftReport> {
    const { args, flags } = await this.parse(Drift);
    const pbx = await readPbxConfig(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const report = await detectDrift(target);
      if (!this.jsonEnabled()) this.log(renderDriftText(report));
      if (!report.inSync) process.exitCode = ExitCode.Changes;
      return report;
    } finally {
      await target.close();
    }
  }
}
