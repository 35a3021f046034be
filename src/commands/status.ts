import { Args, Flags } from '@oclif/core';
import { readInventory } from '../apply/prepare.js';
import { readPbxConfig } from '../config/repo-files.js';
import { nodeStatus, type NodeStatus } from '../kamailio/node-status.js';
import { BaseCommand } from '../lib/base-command.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';
import type { Target } from '../targets/target.js';

/** The feature daemon's health as `status` reports it: its answer, or why there is none. */
type DaemonStatus = { status: string; uptimeS: number; configVersion: string | null; calls: number; evapi?: 'connected' | 'disconnected' } | { error: string };

async function daemonStatus(target: Target): Promise<DaemonStatus | undefined> {
  if (!target.daemon) return undefined;
  try {
    return await target.daemon.health();
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export default class Status extends BaseCommand {
  static override summary = 'Show a node\'s health, deployed release and registered phones.';
  static override description = 'Reads Kamailio (version, uptime, ul.dump, dispatcher.list), the feature daemon\'s health when the node runs one, and the node\'s inventory: which release and commit are deployed, which configured extensions have registered contacts, and the state of each trunk destination.';
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> --json'];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = { target: targetFlag, all: Flags.boolean({ description: 'List every extension, not only registered ones.' }) };

  async run(): Promise<NodeStatus & { daemon?: DaemonStatus }> {
    const { args, flags } = await this.parse(Status);
    const pbx = await readPbxConfig(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      // Only the inventory: status must work while the daemon (or a plan's other inputs) is down.
      const [inventory, daemon] = await Promise.all([readInventory(target), daemonStatus(target)]);
      const s = { ...(await nodeStatus(target.name, target.rpc, inventory)), ...(daemon ? { daemon } : {}) };
      if (this.jsonEnabled()) return s;
      this.log(`Node ${s.target} (${target.description})`);
      this.log(`  Kamailio   ${s.kamailio.version}${s.kamailio.uptimeSec !== undefined ? `, up ${s.kamailio.uptimeSec}s` : ''}`);
      if (daemon) this.log(`  Daemon     ${'error' in daemon ? `not answering: ${daemon.error}` : `${daemon.status}, up ${daemon.uptimeS}s, config ${daemon.configVersion ?? '(none loaded)'}, ${daemon.calls} calls${daemon.evapi ? `, Kamailio events ${daemon.evapi}` : ''}`}`);
      if (s.eventSpool) this.log(`  Events     ${s.eventSpool} call events spooled in Kamailio, waiting for the daemon's evapi connection`);
      this.log(s.release ? `  Release    ${s.release}${s.commit ? `  commit ${s.commit.slice(0, 12)}` : ''}  applied ${s.appliedAt} by ${s.appliedBy}` : '  Release    nothing deployed by pbxctl');
      this.log(`  Phones     ${s.registered} of ${s.configured} extensions registered`);
      for (const e of s.extensions) {
        if (!flags.all && e.contacts.length === 0) continue;
        const c = e.contacts.map((x) => `${x.address}${x.userAgent ? ` (${x.userAgent})` : ''} ${x.expires === null ? 'permanent' : `expires ${x.expires}s`}`).join('; ');
        this.log(`    ${e.label.padEnd(28)} ${c || '-'}`);
      }
      if (s.unknownRegistrations.length) this.log(`  Unknown    registrations for ${s.unknownRegistrations.join(', ')}`);
      if (s.trunks.length) {
        this.log('  Trunks');
        const seen = new Set<string>();
        for (const t of s.trunks) {
          const key = `${t.trunk} ${t.uri}`;
          if (seen.has(key)) continue; // the same host appears in every route's set
          seen.add(key);
          this.log(`    ${(t.trunk ?? '?').padEnd(16)} ${t.uri.padEnd(40)} ${t.state}`);
        }
      }
      return s;
    } finally {
      await target.close();
    }
  }
}
