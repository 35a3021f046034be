import { Flags } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';
import { ExitCode } from '../lib/exit-codes.js';
import { parseDuration, secretsFlag, targetFlag } from '../lib/flags.js';
import { useColor } from '../render/color.js';
import { describeReport, syncLoop, syncOnce, type SyncReport } from '../gitops/sync.js';
import { openTarget } from '../targets/resolve.js';

export default class Sync extends BaseCommand {
  static override summary = 'Deploy the newest commit of a git ref to a node (for CI, git hooks, or a loop on the node).';
  static override description = `Fetches REF from --repo (a URL or a directory; kept in a bare cache under $XDG_CACHE_HOME/pbxctl/sync), and when its commit differs from the one the node runs: validates the commit (refusing it with every diagnostic as file:line:col when it has errors), plans it against the live node and applies it, recording the commit and its author. A node that runs a newer commit (a descendant of the fetched one: a re-run of an old CI job) is left alone unless --allow-older; pbxctl rollback goes back on purpose. Never deploys two commits at once: syncs of one repo on this machine run one after the other (a sync that waited deploys the newest commit), and the node's apply lock covers every other apply.

One cycle by default (exit 0 deployed or up to date, 1 refused or failed, 75 the node or another sync of the repo stayed locked past --lock-timeout). With --interval it loops, Flux-style: a cycle every interval after the previous one ended, failures reported and retried next cycle; SIGINT/SIGTERM stop it between cycles (a running apply finishes first).

The tree is exported from git, so git-ignored files (the secrets file) are not in it: pass --secrets FILE or set PBXCTL_SECRET_* variables.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --repo https://git.example.com/acme/pbx.git --ref main --target office --secrets /etc/pbxctl/secrets.yaml',
    '<%= config.bin %> <%= command.id %> --repo /srv/git/pbx.git --ref main --interval 60s',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    repo: Flags.string({ description: 'Repo to deploy from: a URL (https://, ssh://, git@host:path) or a directory.', required: true }),
    ref: Flags.string({ description: 'Branch, tag or ref to deploy.', default: 'main' }),
    target: targetFlag,
    secrets: secretsFlag,
    interval: Flags.custom<number>({ description: 'Loop: sync again this long after each cycle (e.g. 60s, 5m). Default: one cycle.', parse: async (v) => parseDuration(v) })(),
    'lock-timeout': Flags.custom<number>({ description: 'How long to wait for another sync or apply on the node (e.g. 2m).', default: 0, parse: async (v) => parseDuration(v) })(),
    'keep-releases': Flags.integer({ description: 'Releases to keep on the node.', default: 10, min: 2 }),
    'allow-older': Flags.boolean({ description: 'Deploy the ref even when the node runs a newer commit (a descendant of it).' }),
  };

  async run(): Promise<SyncReport | { cycles: number; last?: SyncReport }> {
    const { flags } = await this.parse(Sync);
    const json = this.jsonEnabled();
    // Human output on stdout, or stderr with --json (stdout is the JSON result then).
    const log = (line: string) => (json ? this.logToStderr(line) : this.log(line));
    const opts = {
      repo: flags.repo, ref: flags.ref, targetName: flags.target, secretsFile: flags.secrets, lockTimeoutMs: flags['lock-timeout'],
      keepReleases: flags['keep-releases'], allowOlder: flags['allow-older'], log, color: useColor(process.stdout) && !json, tty: !!process.stdout.isTTY && !json,
      openTarget: (name: string | undefined, pbx: Parameters<typeof openTarget>[1]) => openTarget(name, pbx),
    };
    if (flags.interval === undefined) {
      const report = await syncOnce(opts);
      log(describeReport(report));
      if (report.outcome === 'invalid' || report.outcome === 'failed') process.exitCode = report.error?.code === 'LOCKED' || report.error?.code === 'SYNC_BUSY' ? ExitCode.Locked : ExitCode.Error;
      return report;
    }
    const stop = new AbortController();
    const onSignal = (sig: string) => {
      if (!stop.signal.aborted) log(`sync: ${sig} received; stopping after the current cycle`);
      stop.abort();
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    let last: SyncReport | undefined;
    try {
      log(`sync: every ${flags.interval / 1000}s; SIGINT/SIGTERM stops between cycles`);
      const cycles = await syncLoop(opts, flags.interval, stop.signal, (r) => {
        last = r;
        log(`${new Date().toISOString()} ${describeReport(r)}`);
      });
      log(`sync: stopped after ${cycles} cycle${cycles === 1 ? '' : 's'}`);
      return { cycles, ...(last ? { last } : {}) };
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  }
}
