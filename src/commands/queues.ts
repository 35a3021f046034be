import { Args, Flags } from '@oclif/core';
import { readPbxConfig } from '../config/repo-files.js';
import type { QueuesReply } from '../daemon/queue/api.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';
import { queuesTable, watchLoop } from '../tui/operator-tables.js';
import { daemonOf } from '../tui/source.js';

export default class Queues extends BaseCommand {
  static override summary = 'Show the call queues of a node: waiting callers, agents, service level.';
  static override description =
    'Reads the feature daemon\'s queue state (GET /v1/queues): per queue the callers waiting (position, wait), free and logged-in agents, answered and abandoned counts and the service level; per agent its activity and the queues it is logged in to. `--watch` redraws on every queue or agent event.';
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --json', '<%= config.bin %> <%= command.id %> --watch'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = { target: targetFlag, watch: Flags.boolean({ description: 'Keep redrawing until interrupted.', exclusive: ['json'] }) };

  async run(): Promise<QueuesReply | void> {
    const { args, flags } = await this.parse(Queues);
    const pbx = await readPbxConfig(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const daemon = daemonOf(target);
      if (!daemon) throw new PbxError('QUEUE_NO_DAEMON', `node ${target.name} runs no feature daemon, which runs the queues`, { hint: '`pbxctl lab up` starts the daemon for the lab node.' });
      const width = process.stdout.columns || 160;
      if (flags.watch) {
        await watchLoop(target, { draw: async () => queuesTable(await daemon.queues(), width), relevant: (t) => t.startsWith('queue.') || t === 'agent.state', periodMs: 2000 });
        return;
      }
      const reply = await daemon.queues();
      if (!this.jsonEnabled()) this.log(queuesTable(reply, width));
      return reply;
    } finally {
      await target.close();
    }
  }
}
