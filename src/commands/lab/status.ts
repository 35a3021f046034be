import { Flags } from '@oclif/core';
import { labStatus, type LabStatus } from '../../lab/lab-node.js';
import { BaseCommand } from '../../lib/base-command.js';
import { ExitCode } from '../../lib/exit-codes.js';
import { labDir } from '../../targets/lab-registry.js';

export default class LabStatusCommand extends BaseCommand {
  static override summary = 'Show whether the lab node runs and answers.';
  static override description = 'Exit code 0 when Kamailio answers JSON-RPC, RTPengine answers an NG ping and the feature daemon answers GET /v1/health, 1 otherwise.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override enableJsonFlag = true;
  static override flags = { dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }) };

  async run(): Promise<LabStatus> {
    const { flags } = await this.parse(LabStatusCommand);
    const s = await labStatus(labDir(process.env, flags.dir));
    if (!s.running) process.exitCode = ExitCode.Error;
    if (!s.info) {
      this.log(`No lab node in ${s.dir}. Start one with: pbxctl lab up`);
      return s;
    }
    const up = (ok: boolean) => (ok ? 'up' : 'DOWN');
    this.log(`Lab node in ${s.dir}: ${s.running ? 'running' : 'not healthy'}`);
    this.log(`  kamailio   ${up(s.kamailio.alive && !!s.kamailio.version)}  pid ${s.kamailio.pid ?? '-'}  ${s.kamailio.version ?? ''}${s.kamailio.uptimeSec !== undefined ? `  uptime ${s.kamailio.uptimeSec}s` : ''}`);
    this.log(`  rtpengine  ${up(s.rtpengine.pong)}  pid ${s.rtpengine.pid ?? '-'}`);
    if (s.daemon.pid !== undefined) {
      const d = s.daemon;
      this.log(`  daemon     ${up(d.healthy)}  pid ${d.pid}  ${d.healthy ? `config ${d.configVersion ?? '(none loaded)'}, ${d.calls ?? 0} calls` : d.error ?? ''}`);
    }
    this.log(`  release    ${s.release ?? '(none)'}`);
    this.log(`  SIP        127.0.0.1:${s.info.ports.sip}  domain ${s.info.domain}`);
    return s;
  }
}
