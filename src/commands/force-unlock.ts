import { Args, Flags } from '@oclif/core';
import { forceUnlock, type LockInfo } from '../apply/lock.js';
import { loadRootConfig } from '../config/load.js';
import { readRepo } from '../config/repo-files.js';
import { BaseCommand } from '../lib/base-command.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';

export default class ForceUnlock extends BaseCommand {
  static override summary = 'Remove a node\'s apply lock left by a crashed or killed apply.';
  static override description = 'Only removes the lock whose ID you give (shown in the "locked" error), so a lock taken since is never removed by mistake. Make sure no apply is running first.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1b4e28ba-2fa1-11d2-883f-0016d3cca427 --target lab'];
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ description: 'The lock ID.', required: true }) };
  static override flags = { target: targetFlag, dir: Flags.directory({ description: 'The repo directory (for its node list).', default: '.' }) };

  async run(): Promise<LockInfo> {
    const { args, flags } = await this.parse(ForceUnlock);
    const snapshot = await readRepo(flags.dir).catch(() => undefined);
    const pbx = snapshot ? loadRootConfig(snapshot.files) : undefined;
    const target = await openTarget(flags.target, pbx);
    try {
      const held = await forceUnlock(target, args.id);
      this.log(`Removed the lock of ${held.holder} (${held.command}, since ${held.createdAt}) from ${target.name}.`);
      return held;
    } finally {
      await target.close();
    }
  }
}
