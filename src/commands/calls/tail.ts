import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { targetFlag } from '../../lib/flags.js';
import { openTarget } from '../../targets/resolve.js';
import { readRepoContext } from '../../tui/source.js';
import { runTail } from '../../tui/tail.js';

export default class CallsTail extends BaseCommand {
  static override summary = 'Watch the calls on a node live (a terminal view; JSON lines when piped).';
  static override description =
    'A live table of the calls in progress, updated from the feature daemon\'s event stream and Kamailio\'s dialogs: caller and callee, DID, state (ringing, in IVR, queued with position, agent, voicemail), duration, flow step, trunk and media. Keys: ↑/↓ or j/k move, Enter details, / filter, s sort, h hang up (asks first), ? help, q quit. Without a terminal, or with --json, prints every event as one JSON object per line. See docs/operators.md.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --target lab',
    '<%= config.bin %> <%= command.id %> --json | jq -c \'select(.type=="queue.joined")\'',
    '<%= config.bin %> <%= command.id %> --once --json',
  ];
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = {
    target: targetFlag,
    json: Flags.boolean({ description: 'Print events (or with --once the snapshot) as JSON, one object per line.' }),
    once: Flags.boolean({ description: 'Print a snapshot of the calls and exit.' }),
    filter: Flags.string({ description: 'Only calls whose number, name, DID, queue, agent or state contains this text.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(CallsTail);
    const { pbx, directory } = await readRepoContext(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      await runTail(target, { json: flags.json || !process.stdout.isTTY, once: flags.once, filter: flags.filter ?? '', ...(directory ? { directory } : {}) });
    } finally {
      await target.close();
    }
  }
}
