import { Flags } from '@oclif/core';
import { loadRootConfig } from '../../config/load.js';
import { readRepo } from '../../config/repo-files.js';
import { labUp } from '../../lab/lab-node.js';
import { BaseCommand } from '../../lib/base-command.js';
import type { LabInfo } from '../../targets/lab-registry.js';
import { labDir } from '../../targets/lab-registry.js';

export default class LabUp extends BaseCommand {
  static override summary = 'Start a local lab node: Kamailio, RTPengine and the feature daemon on loopback.';
  static override description = `Renders the node's configuration into the lab directory, starts RTPengine (userspace), Kamailio and the feature daemon (pbxctl daemon, with a new API token in ROOT/etc/daemon.token) in the background on one block of ports, waits until each answers (NG ping, JSON-RPC core.version, GET /v1/health) and registers the node as target "lab". Running it again while the lab runs changes nothing.

The SIP domain (digest realm) is the repo's (pbx.yaml in --repo) unless --domain is given.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --repo examples/small-office --ports 26000',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }),
    ports: Flags.integer({ description: 'First port of the lab\'s block of 400 (SIP = BASE, JSON-RPC = BASE+1, NG = BASE+2, daemon SIP = BASE+3, daemon API = BASE+4, RTP = BASE+10..109, daemon RTP = BASE+300..399).', min: 1025, max: 65136 }),
    domain: Flags.string({ description: 'SIP domain phones register to.' }),
    repo: Flags.directory({ description: 'Repo whose pbx.yaml gives the domain.', default: '.' }),
  };

  async run(): Promise<LabInfo> {
    const { flags } = await this.parse(LabUp);
    const dir = labDir(process.env, flags.dir);
    const fromRepo = flags.domain ? undefined : await readRepo(flags.repo).then((s) => loadRootConfig(s.files)?.domain).catch(() => undefined);
    const domain = flags.domain ?? fromRepo ?? 'pbx.example.com';
    const { info, started } = await labUp(dir, { base: flags.ports, domain });
    this.log(started ? `Lab node started in ${dir}` : `Lab node already running in ${dir}`);
    this.log(`  SIP        udp/tcp 127.0.0.1:${info.ports.sip}  (domain ${info.domain})`);
    this.log(`  JSON-RPC   http://127.0.0.1:${info.ports.rpc}/RPC`);
    this.log(`  RTPengine  NG udp 127.0.0.1:${info.ports.ng}, RTP ${info.ports.rtpMin}-${info.ports.rtpMax}`);
    if (info.ports.daemonSip !== undefined) this.log(`  Daemon     SIP udp/tcp 127.0.0.1:${info.ports.daemonSip}, API http://127.0.0.1:${info.ports.daemonApi} (token in ${info.daemonTokenFile})`);
    this.log(`  PIDs       kamailio ${info.pids.kamailio}, rtpengine ${info.pids.rtpengine}${info.pids.daemon ? `, daemon ${info.pids.daemon}` : ''}`);
    this.log('Target "lab" is ready: pbxctl plan --target lab');
    return info;
  }
}
