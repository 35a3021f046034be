import { Args, Flags } from '@oclif/core';
import { createInterface } from 'node:readline/promises';
import { changes, renderBootstrapPlan, type BootstrapStep } from '../../bootstrap/plan.js';
import { checkHealth, executeBootstrap, prepareBootstrap, type NodeHealth } from '../../bootstrap/run.js';
import { loadRootConfig } from '../../config/load.js';
import { readRepo } from '../../config/repo-files.js';
import { BaseCommand } from '../../lib/base-command.js';
import { PbxError } from '../../lib/errors.js';

/** What `pbxctl node bootstrap --json` returns. */
interface BootstrapResult {
  node: string;
  steps: { action: BootstrapStep['action']; title: string }[];
  applied: boolean;
  health?: NodeHealth;
}

export default class NodeBootstrap extends BaseCommand {
  static override summary = 'Set up a node reached over SSH: packages, service user, base configuration, the daemon, services.';
  static override description = `Connects to the node named TARGET in pbx.yaml (its host key must be in known_hosts, or pass --accept-new-host-key on first contact), checks the OS (Debian) and the Debian packages (kamailio and its modules, rtpengine-daemon, Node.js), and shows what it would change, like a plan: "+" create, "~" change, "=" unchanged, "!" blocked. Once confirmed it installs missing packages (only with --install-packages), creates the service user and the node directory with tight permissions (configuration group-readable by the service user only, the daemon's API token 0640), uploads the Kamailio script and RTPengine configuration rendered from pbxctl's templates, this pbxctl package (the feature daemon) and, where systemd runs, the pbxctl-* units; then starts or restarts what changed and checks health: Kamailio JSON-RPC core.version and the daemon's /v1/health through SSH tunnels, an RTPengine NG ping on the node.

Re-running it is safe: an up-to-date node shows only "=" lines and nothing is touched. Releases (current) are left to pbxctl apply. Without systemd as PID 1 (containers) the services run under pbxctl node services, with pidfiles and logs in the node directory.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> pbx1 --dry-run',
    '<%= config.bin %> <%= command.id %> pbx1 --install-packages --yes',
    '<%= config.bin %> <%= command.id %> pbx1 --dir ~/pbx-repo --accept-new-host-key',
  ];
  static override enableJsonFlag = true;
  static override args = { target: Args.string({ description: 'The node\'s name in pbx.yaml (a node with type: ssh).', required: true }) };
  static override flags = {
    dir: Flags.directory({ description: 'The repo directory (its pbx.yaml names the node and the SIP domain).', default: '.' }),
    'install-packages': Flags.boolean({ description: 'Install missing Debian packages with apt-get (otherwise their absence blocks the bootstrap).' }),
    'accept-new-host-key': Flags.boolean({ description: 'Trust and record the node\'s host key if known_hosts has none for it yet (a changed key is always refused).' }),
    'dry-run': Flags.boolean({ description: 'Show what would change and stop.' }),
    yes: Flags.boolean({ char: 'y', description: 'Do it without asking for confirmation.' }),
  };

  async run(): Promise<BootstrapResult> {
    const { args, flags } = await this.parse(NodeBootstrap);
    const json = this.jsonEnabled();
    const log = (line: string) => (json ? this.logToStderr(line) : this.log(line));
    const pbx = loadRootConfig((await readRepo(flags.dir)).files);
    if (!pbx) throw new PbxError('REPO_CONFIG_INVALID', `${flags.dir}/pbx.yaml is missing or invalid`, { hint: 'Run pbxctl validate to see why.' });
    const node = pbx.nodes.find((n) => n.name === args.target);
    if (!node) throw new PbxError('UNKNOWN_TARGET', `no node named "${args.target}" in ${flags.dir}/pbx.yaml`, { hint: `Nodes: ${pbx.nodes.map((n) => n.name).join(', ') || '(none)'}.` });
    log(`Inspecting ${node.name} (${node.user}@${node.host}:${node.port ?? 22})...`);
    const session = await prepareBootstrap(node, { domain: pbx.domain, installPackages: flags['install-packages'], acceptNewHostKey: flags['accept-new-host-key'] });
    const result: BootstrapResult = { node: node.name, steps: session.steps.filter((s) => s.op?.kind !== 'services').map((s) => ({ action: s.action, title: s.title })), applied: false };
    try {
      log(renderBootstrapPlan(session.steps));
      const todo = changes(session.steps);
      if (todo.length === 0 && !session.steps.some((s) => s.action === '!')) {
        log('\nNothing to change: the node is set up.');
      } else {
        log(`\nBootstrap: ${todo.length} to do${session.steps.some((s) => s.action === '!') ? ', blocked' : ''}.`);
        if (flags['dry-run']) return result;
        if (!session.steps.some((s) => s.action === '!') && !flags.yes) await this.confirm(node.name);
        await executeBootstrap(session, (step, status, detail) => {
          if (status !== 'start') log(`bootstrap: ${step.action} ${step.title}: ${status}${detail ? ` (${detail})` : ''}`);
        });
        result.applied = true;
      }
      if (flags['dry-run']) return result;
      result.health = await checkHealth(session);
      const h = result.health;
      log(`\nHealth: kamailio ${h.kamailio.ok ? `ok (${h.kamailio.version})` : `FAILED: ${h.kamailio.error}`}; rtpengine ${h.rtpengine.ok ? 'ok (NG pong)' : `FAILED: ${h.rtpengine.error}`}; daemon ${h.daemon.ok ? 'ok' : `FAILED: ${h.daemon.error}`}`);
      if (!h.kamailio.ok || !h.rtpengine.ok || !h.daemon.ok) {
        throw new PbxError('NODE_UNHEALTHY', `node ${node.name} is set up but not every service answers`, { hint: `Look at the logs in ${session.setup.dir}/log (or journalctl -u 'pbxctl-*' on a systemd node).` });
      }
      return result;
    } finally {
      await session.close();
    }
  }

  /** Asks like apply; only "yes" proceeds. Refuses without a TTY. */
  private async confirm(name: string): Promise<void> {
    if (!process.stdin.isTTY) {
      throw new PbxError('CONFIRMATION_REQUIRED', 'bootstrap needs confirmation and there is no terminal to ask on', { hint: 'Review the steps (--dry-run), then pass --yes.' });
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const answer = await rl.question(`\nSet up ${name} like this? Only 'yes' will be accepted: `);
      if (answer.trim() !== 'yes') throw new PbxError('BOOTSTRAP_CANCELLED', 'bootstrap cancelled; nothing was changed');
    } finally {
      rl.close();
    }
  }
}
