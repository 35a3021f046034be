import { Args, Flags } from '@oclif/core';
import { servicesStatus, startServices, stopServices, SERVICES, type ServiceName } from '../../bootstrap/supervisor.js';
import { BaseCommand } from '../../lib/base-command.js';
import { ExitCode } from '../../lib/exit-codes.js';
import { DEFAULT_REMOTE_DIR } from '../../targets/ssh-node.js';

export default class NodeServices extends BaseCommand {
  static override summary = 'Start, stop or check a node\'s services without systemd (run on the node).';
  static override description = `For nodes where systemd is not PID 1 (containers, CI): runs RTPengine, Kamailio and the feature daemon as background processes with pidfiles in DIR/run and logs in DIR/log, as the service user that pbxctl node bootstrap set up. Bootstrap runs it over SSH; on a systemd node use systemctl with the pbxctl-* units instead.

status exits 1 when a service is not running or does not answer its health probe (NG ping, JSON-RPC core.version, GET /v1/health).`;
  static override examples = ['<%= config.bin %> <%= command.id %> status --dir /var/lib/pbxctl', '<%= config.bin %> <%= command.id %> start --restart kamailio'];
  static override enableJsonFlag = true;
  static override args = { action: Args.string({ options: ['start', 'stop', 'status'], required: true, description: 'What to do.' }) };
  static override flags = {
    dir: Flags.string({ description: 'The node directory.', default: DEFAULT_REMOTE_DIR }),
    restart: Flags.string({ description: 'With start: restart this service even if it runs (its configuration changed).', options: [...SERVICES], multiple: true }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(NodeServices);
    if (args.action === 'start') {
      const r = await startServices(flags.dir, (flags.restart ?? []) as ServiceName[]);
      for (const [s, what] of Object.entries(r)) this.log(`${s.padEnd(10)} ${what}`);
      return r;
    }
    if (args.action === 'stop') {
      const r = await stopServices(flags.dir);
      for (const [s, what] of Object.entries(r)) this.log(`${s.padEnd(10)} ${what}`);
      return r;
    }
    const states = await servicesStatus(flags.dir);
    if (!states.every((s) => s.running && s.healthy)) process.exitCode = ExitCode.Error;
    for (const s of states) this.log(`${s.name.padEnd(10)} ${s.running ? (s.healthy ? 'up' : 'NOT ANSWERING') : 'DOWN'}  pid ${s.pid ?? '-'}`);
    return states;
  }
}
