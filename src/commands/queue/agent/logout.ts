import type { AgentActionReply } from '../../../daemon/queue/api.js';
import { BaseCommand } from '../../../lib/base-command.js';
import { agentArgs, agentFlags, runAgentAction } from './login.js';

export default class QueueAgentLogout extends BaseCommand {
  static override summary = 'Log an agent out of its queues (or one queue) on a node.';
  static override description = 'The same as the agent dialling the agentLogout feature code (e.g. *73): no more queue calls are offered to it. With leaveWhenEmpty, callers of a queue left without agents go to its overflow. See docs/queues.md.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 --target lab', '<%= config.bin %> <%= command.id %> 1001 --queue support --json'];
  static override enableJsonFlag = true;
  static override args = agentArgs;
  static override flags = agentFlags;

  async run(): Promise<AgentActionReply> {
    const { args, flags } = await this.parse(QueueAgentLogout);
    return runAgentAction(this, 'logout', args.extension, flags);
  }
}
