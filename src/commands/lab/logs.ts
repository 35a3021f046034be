import { Flags } from '@oclif/core';
import { labLogs } from '../../lab/lab-node.js';
import { BaseCommand } from '../../lib/base-command.js';
import { labDir } from '../../targets/lab-registry.js';

export default class LabLogs extends BaseCommand {
  static override summary = 'Print the end of the lab node\'s Kamailio, RTPengine and feature daemon logs.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -n 200'];
  static override flags = {
    dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }),
    lines: Flags.integer({ char: 'n', description: 'Lines per log.', default: 40, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(LabLogs);
    const logs = labLogs(labDir(process.env, flags.dir), flags.lines);
    this.log('==> kamailio.log <==');
    this.log(logs.kamailio || '(empty)');
    this.log('\n==> rtpengine.log <==');
    this.log(logs.rtpengine || '(empty)');
    this.log('\n==> daemon.log <==');
    this.log(logs.daemon || '(empty)');
  }
}
