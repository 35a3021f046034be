import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { targetFlag } from '../../lib/flags.js';
import { openTarget } from '../../targets/resolve.js';
import { hangupCall, readRepoContext } from '../../tui/source.js';

export default class CallsHangup extends BaseCommand {
  static override summary = 'Hang up a call in progress.';
  static override description =
    'Ends the call with this Call-ID: through the feature daemon when it runs the call (it tears down every leg and writes the CDR), otherwise through Kamailio\'s dialog module (`dlg.end_dlg`, a BYE to both sides). Find Call-IDs with `pbxctl calls list`.';
  static override examples = ['<%= config.bin %> <%= command.id %> 3c2a9f1e@10.0.0.5 --target lab'];
  static override enableJsonFlag = true;
  static override args = { callId: Args.string({ description: 'The Call-ID.', required: true }), dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = { target: targetFlag };

  async run(): Promise<{ callId: string; via: 'daemon' | 'kamailio' }> {
    const { args, flags } = await this.parse(CallsHangup);
    const { pbx } = await readRepoContext(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const via = await hangupCall(target, args.callId);
      this.log(`Hung up ${args.callId} (${via === 'daemon' ? 'feature daemon' : 'Kamailio dlg.end_dlg'}).`);
      return { callId: args.callId, via };
    } finally {
      await target.close();
    }
  }
}
