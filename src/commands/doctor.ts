import { Flags } from '@oclif/core';
import { toolchainChecks, type DoctorCheck } from '../lab/doctor.js';
import { labStatus } from '../lab/lab-node.js';
import { BaseCommand } from '../lib/base-command.js';
import { ExitCode } from '../lib/exit-codes.js';
import { labDir } from '../targets/lab-registry.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Check this machine\'s toolchain (and the lab node) for running pbxctl nodes.';
  static override description = 'Checks Node.js, Kamailio and every module the node script loads, RTPengine and sipp, and whether the lab node (if one was started) answers. Exit 1 when a required check fails; each failure says what to install or run.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override enableJsonFlag = true;
  static override flags = { dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }) };

  async run(): Promise<{ ok: boolean; checks: DoctorCheck[] }> {
    const { flags } = await this.parse(Doctor);
    const checks = toolchainChecks();
    const lab = await labStatus(labDir(process.env, flags.dir));
    if (lab.info) {
      checks.push({
        name: 'lab node', ok: lab.running, required: false,
        detail: lab.running ? `running in ${lab.dir} (${lab.kamailio.version}, release ${lab.release ?? 'none'})` : `started in ${lab.dir} but not answering (kamailio ${lab.kamailio.alive ? 'alive' : 'down'}, rtpengine ${lab.rtpengine.pong ? 'answers' : 'silent'})`,
        ...(lab.running ? {} : { hint: 'pbxctl lab logs; then pbxctl lab up to restart it' }),
      });
    }
    const ok = checks.every((c) => c.ok || !c.required);
    if (!ok) process.exitCode = ExitCode.Error;
    if (!this.jsonEnabled()) {
      for (const c of checks) {
        this.log(`${c.ok ? '✓' : c.required ? '✗' : '!'} ${c.name.padEnd(17)} ${c.detail}`);
        if (!c.ok && c.hint) this.log(`  ${' '.repeat(17)} fix: ${c.hint}`);
      }
      this.log(ok ? '\nReady.' : '\nSome required parts are missing.');
    }
    return { ok, checks };
  }
}
