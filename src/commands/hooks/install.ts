import { Args, Flags } from '@oclif/core';
import { readPbxConfig } from '../../config/repo-files.js';
import { installPostReceive, installPreCommit, type ExistingHookPolicy, type HookInstallResult } from '../../gitops/hooks.js';
import { BaseCommand } from '../../lib/base-command.js';
import { PbxError } from '../../lib/errors.js';
import { secretsFlag, targetFlag } from '../../lib/flags.js';

export default class HooksInstall extends BaseCommand {
  static override summary = 'Install git hooks: a pre-commit hook that validates, or a post-receive hook that deploys on push.';
  static override description = `Without --post-receive: writes the pre-commit hook of the git work tree holding DIR (core.hooksPath honored). It validates exactly what is staged with pbxctl validate and refuses the commit on errors (--strict: on warnings too).

With --post-receive BARE_REPO: writes the post-receive hook of a bare repo on the node, for push-to-deploy without a CI server. A push of --ref runs pbxctl sync on it (validate, plan, apply) and the pusher sees everything it prints as "remote:" lines, including why a commit was refused or an apply failed.

An existing hook not written by pbxctl is kept: the install refuses unless --chain (the old hook is moved to HOOK.pre-pbxctl and runs first; pbxctl's part runs only if it succeeds) or --force (replaced). A hook pbxctl wrote earlier is updated in place.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --chain',
    '<%= config.bin %> <%= command.id %> --post-receive /srv/git/pbx.git --ref main --target office --secrets /etc/pbxctl/secrets.yaml',
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'The PBX repo (pre-commit hook).', default: '.' }) };
  static override flags = {
    'post-receive': Flags.directory({ description: 'Install the push-to-deploy hook into this bare repo instead.' }),
    ref: Flags.string({ description: 'Branch the post-receive hook deploys.', default: 'main' }),
    target: targetFlag,
    secrets: secretsFlag,
    'lock-timeout': Flags.string({ description: 'How long a deploy waits for another apply (post-receive).', default: '120s' }),
    env: Flags.string({ description: 'NAME=VALUE set in the post-receive hook (repeatable), e.g. XDG_CACHE_HOME=/var/cache/pbxctl.', multiple: true }),
    strict: Flags.boolean({ description: 'pre-commit: fail on warnings too.' }),
    chain: Flags.boolean({ description: 'Keep an existing hook and run it first.', exclusive: ['force'] }),
    force: Flags.boolean({ description: 'Replace an existing hook.', exclusive: ['chain'] }),
  };

  async run(): Promise<HookInstallResult> {
    const { args, flags } = await this.parse(HooksInstall);
    const policy: ExistingHookPolicy = flags.chain ? 'chain' : flags.force ? 'replace' : 'refuse';
    let result: HookInstallResult;
    if (flags['post-receive']) {
      const env: Record<string, string> = {};
      for (const kv of flags.env ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new PbxError('BAD_ENV', `--env ${kv}: expected NAME=VALUE`);
        env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      result = await installPostReceive(flags['post-receive'], {
        policy, ref: flags.ref, lockTimeout: flags['lock-timeout'], env,
        ...(flags.target ? { target: flags.target } : {}), ...(flags.secrets ? { secretsFile: flags.secrets } : {}),
      });
    } else {
      const pbx = await readPbxConfig(args.dir);
      result = await installPreCommit(args.dir, { policy, strict: flags.strict, ...(pbx?.secrets?.file ? { secretsFile: pbx.secrets.file } : {}) });
    }
    const how = { created: 'Installed', updated: 'Updated', replaced: 'Replaced the existing hook with', chained: 'Installed (chained after the existing hook)' }[result.action];
    this.log(`${how} ${result.hook} hook: ${result.path}${result.chainedTo ? `\n  The previous hook now runs first from ${result.chainedTo}.` : ''}`);
    if (result.hook === 'post-receive') this.log(`  A push of ${flags.ref} now runs pbxctl sync on the node; the pusher sees its output.`);
    else this.log('  Each commit is now validated as staged; skip once with git commit --no-verify.');
    return result;
  }
}
