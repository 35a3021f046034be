import { Args, Flags } from '@oclif/core';
import { cdrTable } from '../cdr/format.js';
import { cdrFilters, fetchCdrs, type CdrSource } from '../cdr/query.js';
import { readPbxConfig } from '../config/repo-files.js';
import { CDR_DISPOSITIONS } from '../daemon/cdr/cdr-types.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { targetFlag } from '../lib/flags.js';
import { openTarget } from '../targets/resolve.js';

export default class Cdr extends BaseCommand {
  static override summary = 'List call detail records of a node, filtered, as a table, CSV or JSON.';
  static override description =
    'Reads the CDRs the node\'s feature daemon stored (every call that passed the node: plain extension calls from Kamailio\'s dialog events, calls through IVRs, ring groups, queues and voicemail with their path). Newest first. See docs/cdr.md for the fields and the CSV columns.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --target lab --since 24h',
    '<%= config.bin %> <%= command.id %> --extension 1001 --disposition no-answer --since 7d',
    '<%= config.bin %> <%= command.id %> --from 2026-11-01 --to 2026-12-01 --format csv > november.csv',
  ];
  static override args = { dir: Args.directory({ description: 'Repo directory (for its node list).', default: '.' }) };
  static override flags = {
    target: targetFlag,
    since: Flags.string({ description: 'Calls started within this long before now: 90s, 30m, 24h, 7d, 2w.' }),
    from: Flags.string({ description: 'Calls started at or after this time (ISO 8601, UTC when no zone; or ms since the epoch).' }),
    to: Flags.string({ description: 'Calls started before this time.' }),
    extension: Flags.string({ description: 'Calls from, to or answered by this extension (or number).' }),
    did: Flags.string({ description: 'Calls to this DID (E.164).' }),
    disposition: Flags.string({ description: 'Only calls that ended this way.', options: [...CDR_DISPOSITIONS] }),
    limit: Flags.integer({ description: 'Most CDRs to list.', default: 1000, min: 1, max: 1_000_000 }),
    format: Flags.string({ description: 'Output format.', options: ['table', 'csv', 'json'], default: 'table' }),
  };

  /**
   * With `--format json` a failure prints the JSON error object too (schemas/output/error.schema.json),
   * on stdout as the CDRs would have been: a script reads one shape either way.
   */
  override jsonEnabled(): boolean {
    return this.argv.includes('--format=json') || this.argv.some((a, i) => a === '--format' && this.argv[i + 1] === 'json');
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Cdr);
    const filters = cdrFilters(flags, Date.now());
    const pbx = await readPbxConfig(args.dir);
    const target = await openTarget(flags.target, pbx);
    try {
      const daemon = target.daemon as Partial<CdrSource> | undefined;
      if (!daemon || typeof daemon.cdrs !== 'function') {
        throw new PbxError('CDR_NO_DAEMON', `node ${target.name} runs no feature daemon, which keeps the CDRs`, { hint: 'CDRs need the feature daemon: `pbxctl lab up` starts it for the lab node.' });
      }
      const source = daemon as CdrSource;
      if (flags.format === 'csv') {
        process.stdout.write(await source.cdrs({ ...filters, limit: flags.limit }, 'csv'));
        return;
      }
      const cdrs = await fetchCdrs(source, filters, flags.limit);
      if (flags.format === 'json') {
        process.stdout.write(`${JSON.stringify(cdrs, null, 2)}\n`);
        return;
      }
      this.log(cdrs.length === 0 ? 'No CDRs match.' : cdrTable(cdrs));
    } finally {
      await target.close();
    }
  }
}
