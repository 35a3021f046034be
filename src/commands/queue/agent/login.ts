import { Args, Flags } from '@oclif/core';
import { readPbxConfig } from '../../../config/repo-files.js';
import type { DaemonClient } from '../../../daemon/daemon-client.js';
import type { AgentAction, AgentActionReply } from '../../../daemon/queue/api.js';
import { BaseCommand } from '../../../lib/base-command.js';
import { PbxError } from '../../../lib/errors.js';
import { targetFlag } from '../../../lib/flags.js';
import { openTarget } from '../../../targets/resolve.js';

/** Arguments and flags every `queue agent` command shares. */
export const agentArgs = { extension: Args.string({ description: 'The agent\'s extension number.', required: true }) };
export const agentFlags = {
  target: targetFlag,
  queue: Flags.string({ char: 'q', description: 'Only this queue (default: every queue the extension is an agent of / logged in to).' }),
  dir: Flags.directory({ description: 'Repo directory (for its node list).', default: '.' }),
};

/**
 * Runs one agent action through the node's feature daemon API and prints what changed.
 * @throws PbxError QUEUE_NO_DAEMON when the node runs no daemon; the daemon's QUEUE_* errors
 */
export async function runAgentAction(cmd: BaseCommand, action: AgentAction, extension: string, flags: { target?: string; queue?: string; dir: string; reason?: string }): Promise<AgentActionReply> {
  const pbx = await readPbxConfig(flags.dir);
  const target = await openTarget(flags.target, pbx);
  try {
    const daemon = target.daemon as Partial<Pick<DaemonClient, 'queueAgent'>> | undefined;
    if (!daemon || typeof daemon.queueAgent !== 'function') {
      throw new PbxError('QUEUE_NO_DAEMON', `node ${target.name} runs no feature daemon, which keeps the queues`, { hint: 'Queues need the feature daemon: `pbxctl lab up` starts it for the lab node.' });
    }
    const r = await daemon.queueAgent(action, extension, { ...(flags.queue === undefined ? {} : { queue: flags.queue }), ...(flags.reason === undefined ? {} : { reason: flags.reason }) });
    if (!cmd.jsonEnabled()) {
      const verb = { login: 'logged in to', logout: 'logged out of', pause: 'paused in', unpause: 'available again in' }[action];
      cmd.log(r.queues.length ? `Agent ${extension} ${verb} ${r.queues.join(', ')}.` : `Agent ${extension} was not logged in to any queue.`);
      if (r.agent) {
        const q = r.agent.queues.map((x) => `${x.queue}${x.paused ? ` (paused${x.pauseReason ? `: ${x.pauseReason}` : ''})` : ''}`).join(', ');
        cmd.log(`  now: ${r.agent.activity}; logged in to ${q || 'no queue'}`);
      }
    }
    return r;
  } finally {
    await target.close();
  }
}

export default class QueueAgentLogin extends BaseCommand {
  static override summary = 'Log an agent in to its queues (or one queue) on a node.';
  static override description = 'The same as the agent dialling the agentLogin feature code (e.g. *72). The login is stored by the node\'s feature daemon and survives its restart; the agent is offered queue calls from now on. See docs/queues.md.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 --target lab', '<%= config.bin %> <%= command.id %> 1001 --queue support --json'];
  static override enableJsonFlag = true;
  static override args = agentArgs;
  static override flags = agentFlags;

  async run(): Promise<AgentActionReply> {
    const { args, flags } = await this.parse(QueueAgentLogin);
    return runAgentAction(this, 'login', args.extension, flags);
  }
}
