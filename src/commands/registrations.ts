import { Args, Flags } from '@oclif/core';
import { readInventory } from '../apply/prepare.js';
import { readRegistrations } from '../kamailio/node-status.js';
import { BaseCommand } from '../lib/base-command.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';
import type { Target } from '../targets/target.js';
import { registrationsTable, watchLoop, type ExtensionRegistrations } from '../tui/operator-tables.js';
import { directoryFromInventory, readRepoContext } from '../tui/source.js';

/** Registered contacts per extension (Kamailio `ul.dump`), configured extensions first, by number. */
async function collect(target: Target, repoNames?: ReadonlyMap<string, string>): Promise<ExtensionRegistrations[]> {
  const [inventory, regs] = await Promise.all([readInventory(target), readRegistrations(target.rpc)]);
  const names = new Map([...directoryFromInventory(inventory), ...(repoNames ?? [])]);
  const configured = new Set((inventory?.resources ?? []).filter((r) => r.kind === 'Extension').map((r) => r.identity));
  const all = [...new Set([...configured, ...regs.keys()])].sort((a, b) => Number(!configured.has(a)) - Number(!configured.has(b)) || a.localeCompare(b, 'en', { numeric: true }));
  return all.map((ext) => {
    const name = names.get(ext);
    return { extension: ext, ...(name ? { name } : {}), configured: configured.has(ext), contacts: regs.get(ext) ?? [] };
  });
}

export default class Registrations extends BaseCommand {
  static override summary = 'List the phones registered on a node, per extension.';
  static override description =
    'Reads Kamailio\'s location table (`ul.dump`): every registered contact with its user agent, seconds until it expires and the address the REGISTER came from. `--watch` redraws when a registration changes (the daemon\'s registration.changed events) and every few seconds.';
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --all --json', '<%= config.bin %> <%= command.id %> --watch'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = {
    target: targetFlag,
    all: Flags.boolean({ description: 'Also list configured extensions without a registered phone.' }),
    watch: Flags.boolean({ description: 'Keep redrawing until interrupted.', exclusive: ['json'] }),
  };

  async run(): Promise<{ extensions: ExtensionRegistrations[] } | void> {
    const { args, flags } = await this.parse(Registrations);
    const { pbx, directory } = await readRepoContext(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const width = process.stdout.columns || 160;
      if (flags.watch) {
        await watchLoop(target, { draw: async () => registrationsTable(await collect(target, directory), width, flags.all), relevant: (t) => t === 'registration.changed', periodMs: 5000 });
        return;
      }
      const rows = await collect(target, directory);
      const extensions = flags.all ? rows : rows.filter((r) => r.contacts.length > 0);
      if (!this.jsonEnabled()) this.log(registrationsTable(extensions, width, flags.all));
      return { extensions };
    } finally {
      await target.close();
    }
  }
}
