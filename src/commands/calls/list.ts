import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { targetFlag } from '../../lib/flags.js';
import { openTarget } from '../../targets/resolve.js';
import { readRepoContext, readSnapshot } from '../../tui/source.js';
import { callsTable, type CallView } from '../../tui/snapshot-output.js';
import { SORTS, visibleCalls, type SortOrder } from '../../tui/model/view.js';

export default class CallsList extends BaseCommand {
  static override summary = 'List the calls in progress on a node.';
  static override description =
    'One snapshot of the calls the node handles right now: the feature daemon\'s calls (IVRs, queues, ring groups, voicemail) merged with the dialogs Kamailio relays directly (extension to extension, trunks), by Call-ID. Names come from what is deployed on the node. For a live view use `pbxctl calls tail`.';
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --json --filter sales'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = {
    target: targetFlag,
    filter: Flags.string({ description: 'Only calls whose number, name, DID, queue, agent or state contains this text.' }),
    sort: Flags.string({ description: 'Order of the rows.', options: [...SORTS], default: 'longest' }),
  };

  async run(): Promise<{ calls: CallView[] }> {
    const { args, flags } = await this.parse(CallsList);
    const { pbx, directory } = await readRepoContext(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const now = Date.now();
      const model = await readSnapshot(target, now, directory);
      const calls = visibleCalls(model, flags.filter ?? '', flags.sort as SortOrder);
      if (!this.jsonEnabled()) this.log(callsTable(calls, now, process.stdout.columns || 160));
      return { calls };
    } finally {
      await target.close();
    }
  }
}
