import { Flags } from '@oclif/core';
import type { AgentActionReply } from '../../../daemon/queue/api.js';
import { BaseCommand } from '../../../lib/base-command.js';
import { agentArgs, agentFlags, runAgentAction } from './login.js';

export default class QueueAgentPause extends BaseCommand {
  static override summary = 'Pause an agent: logged in, but offered no queue calls.';
  static override description = 'Like the agentPause feature code (e.g. *74) in the given queue or every queue the agent is logged in to; `pbxctl queue agent unpause` ends it. The pause survives a daemon restart. See docs/queues.md.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 --reason lunch --target lab', '<%= config.bin %> <%= command.id %> 1001 --queue support --json'];
  static override enableJsonFlag = true;
  static override args = agentArgs;
  static override flags = { ...agentFlags, reason: Flags.string({ description: 'Why (shown in the API and the agent.state event).' }) };

  async run(): Promise<AgentActionReply> {
    const { args, flags } = await this.parse(QueueAgentPause);
    return runAgentAction(this, 'pause', args.extension, flags);
  }
}
