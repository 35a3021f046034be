import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { readPbxConfig } from '../config/repo-files.js';
import { isLabTarget, watchCycle, watchRepo } from '../gitops/watch.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { ExitCode } from '../lib/exit-codes.js';
import { parseDuration, secretsFlag, targetFlag } from '../lib/flags.js';
import { useColor } from '../render/color.js';
import { openTarget } from '../targets/resolve.js';

export default class Watch extends BaseCommand {
  static override summary = 'Re-validate and re-plan a repo on every save (the edit loop).';
  static override description = `Validates DIR and plans it against the target at once, then again after every burst of saves (--debounce, default 300ms), printing diagnostics as file:line:col and the plan. Dot-files and node_modules are ignored. It never changes a node unless --apply is given, and --apply is refused unless the target is the local lab node (pbxctl lab up). Stop it with Ctrl-C.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --target lab',
    '<%= config.bin %> <%= command.id %> examples/small-office --target lab --secrets examples/small-office/.secrets.example.yaml --apply',
  ];
  static override args = { dir: Args.directory({ description: 'The repo directory.', default: '.' }) };
  static override flags = {
    target: targetFlag,
    secrets: secretsFlag,
    apply: Flags.boolean({ description: 'Apply each valid plan with changes (lab node only).' }),
    debounce: Flags.custom<number>({ description: 'Quiet time after a save before re-planning (e.g. 300ms, 1s).', default: 300, parse: async (v) => parseDuration(v) })(),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Watch);
    const dir = args.dir;
    const pbx = await readPbxConfig(dir);
    if (flags.apply && !isLabTarget(flags.target, pbx)) {
      throw new PbxError('WATCH_APPLY_REFUSED', `watch --apply only applies to the local lab node, and ${flags.target ? `"${flags.target}"` : 'the repo\'s default node'} is not it`, {
        hint: 'Use --target lab (pbxctl lab up starts one), or drop --apply and deploy with pbxctl apply / a git push.',
        exitCode: ExitCode.Usage,
      });
    }
    const color = useColor(process.stdout);
    const log = (line: string) => this.log(line);
    let seq = 0;
    const watcher = watchRepo(resolve(dir), async (changed) => {
      seq++;
      log(`\n── ${new Date().toLocaleTimeString()} #${seq}${changed.length && changed[0] !== '.' ? ` (${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', ...' : ''})` : ''} ──`);
      await watchCycle({
        dir, log, color, apply: flags.apply, openTarget: (name, p) => openTarget(name, p),
        ...(flags.secrets ? { secretsFile: flags.secrets } : {}), ...(flags.target ? { targetName: flags.target } : {}),
      });
      log(`watch: waiting for changes in ${dir}${flags.apply ? ' (applying to lab)' : ''}; Ctrl-C stops`);
    }, { debounceMs: flags.debounce, initial: true, onError: (e) => this.logToStderr(`watch: internal error (a bug in pbxctl): ${e instanceof Error ? (flags.debug ? e.stack : e.message) : String(e)}`) });
    await watcher.ready;
    await new Promise<void>((resolveStop) => {
      const stop = () => resolveStop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await watcher.close();
  }
}
