import { Flags } from '@oclif/core';
import { labDown } from '../../lab/lab-node.js';
import { BaseCommand } from '../../lib/base-command.js';
import { labDir } from '../../targets/lab-registry.js';

export default class LabDown extends BaseCommand {
  static override summary = 'Stop the lab node (exactly the processes lab up started).';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --purge'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }),
    purge: Flags.boolean({ description: 'Also delete the lab directory (releases, logs).' }),
  };

  async run(): Promise<{ stopped: string[] }> {
    const { flags } = await this.parse(LabDown);
    const result = await labDown(labDir(process.env, flags.dir), { purge: flags.purge });
    this.log(result.stopped.length ? result.stopped.join('\n') : 'No lab node was running.');
    return result;
  }
}
