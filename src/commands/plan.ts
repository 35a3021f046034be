import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { planFor } from '../apply/prepare.js';
import { openRepo } from '../config/open-repo.js';
import { BaseCommand } from '../lib/base-command.js';
import { ExitCode } from '../lib/exit-codes.js';
import { secretsFlag, targetFlag } from '../lib/flags.js';
import { writePlanFile } from '../plan/plan-file.js';
import { hasChanges, type Plan } from '../plan/types.js';
import { useColor } from '../render/color.js';
import { renderDiagnosticsText } from '../render/diagnostics.js';
import { renderPlanText } from '../render/plan.js';
import { openTarget } from '../targets/resolve.js';

export default class PlanCommand extends BaseCommand {
  static override summary = 'Show what apply would change on a node.';
  static override description = `Reads the live state from the node (Kamailio RPC dumps, the feature daemon's running config when the node runs one, and pbxctl's inventory on the node, never a local cache), compares it with the repo and prints the difference: + create, ~ update, - delete, ± replace, with attribute changes and drift (changes made on the node behind pbxctl's back). Secrets show as (sensitive).

Exit codes: 0 no changes (or any outcome without --detailed-exitcode), 1 error, 2 changes present (with --detailed-exitcode).`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> examples/small-office --target lab',
    '<%= config.bin %> <%= command.id %> --out plan.json',
    '<%= config.bin %> <%= command.id %> --detailed-exitcode --json',
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'The repo directory.', default: '.' }) };
  static override flags = {
    target: targetFlag,
    secrets: secretsFlag,
    out: Flags.file({ description: 'Save the plan to this file (JSON) for `pbxctl apply FILE`.' }),
    'detailed-exitcode': Flags.boolean({ description: 'Exit 2 when there are changes, 0 when none.' }),
  };

  async run(): Promise<Plan> {
    const { args, flags } = await this.parse(PlanCommand);
    const repo = await openRepo(args.dir, { secretsFile: flags.secrets, onDiagnostics: (d) => this.logToStderr(renderDiagnosticsText(d, { color: false, prefix: args.dir })) });
    const target = await openTarget(flags.target, repo.state.pbx);
    try {
      const { plan, desired } = await planFor(target, repo.state, repo.secrets, { repoDir: args.dir, commit: repo.commit });
      if (flags.out) {
        await writePlanFile(flags.out, { kind: 'pbxctl-plan', formatVersion: 1, repo: resolve(args.dir), salt: desired.salt, createdAt: new Date().toISOString(), plan });
      }
      if (!this.jsonEnabled()) {
        this.log(renderPlanText(plan, { color: useColor(process.stdout) }));
        if (flags.out) this.log(`\nSaved the plan to ${flags.out}. Apply exactly it with: pbxctl apply ${flags.out}`);
      }
      if (flags['detailed-exitcode'] && hasChanges(plan)) process.exitCode = ExitCode.Changes;
      return plan;
    } finally {
      await target.close();
    }
  }
}
