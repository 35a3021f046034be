import type { AgentActionReply } from '../../../daemon/queue/api.js';
import { BaseCommand } from '../../../lib/base-command.js';
import { agentArgs, agentFlags, runAgentAction } from './login.js';

export default class QueueAgentUnpause extends BaseCommand {
  static override summary = 'Make a paused agent available again.';
  static override description = 'Ends a pause (pbxctl queue agent pause, or the agentPause feature code, e.g. *74) in the given queue or every queue the agent is logged in to. See docs/queues.md.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 --target lab', '<%= config.bin %> <%= command.id %> 1001 --queue support --json'];
  static override enableJsonFlag = true;
  static override args = agentArgs;
  static override flags = agentFlags;

  async run(): Promise<AgentActionReply> {
    const { args, flags } = await this.parse(QueueAgentUnpause);
    return runAgentAction(this, 'unpause', args.extension, flags);
  }
}
