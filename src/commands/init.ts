import { Args, Flags } from '@oclif/core';
import { basename, resolve } from 'node:path';
import { scaffoldRepo, type InitResult } from '../config/scaffold.js';
import { CI_KINDS, assertCiWritable, writeCiPipeline } from '../gitops/ci-templates.js';
import { BaseCommand } from '../lib/base-command.js';

export default class Init extends BaseCommand {
  static override summary = 'Create a new PBX repo that validates clean.';
  static override description = 'Writes pbx.yaml, one resource of each kind, a .gitignore for secrets, a CI pipeline (--ci: GitHub Actions by default, or GitLab CI) that validates with annotations, posts the plan on pull/merge requests, deploys the main branch with pbxctl sync and checks drift nightly, local JSON Schema copies (.schemas/) for editor help, and a git-ignored .secrets.yaml with generated passwords and PINs.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> my-pbx --domain pbx.example.com',
    '<%= config.bin %> <%= command.id %> . --name acme --timezone Europe/Berlin',
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Directory to create the repo in.', default: '.' }) };
  static override flags = {
    name: Flags.string({ description: 'PBX name (lowercase id); default: the directory name.' }),
    domain: Flags.string({ description: 'SIP domain phones register to.', default: 'pbx.example.com' }),
    timezone: Flags.string({ description: 'IANA time zone for schedules.', default: 'America/New_York' }),
    force: Flags.boolean({ description: 'Overwrite existing files.' }),
    ci: Flags.option({ options: CI_KINDS, default: 'github', description: 'CI pipeline to add: github (.github/workflows/pbxctl.yml), gitlab (.gitlab-ci.yml) or none.' })(),
  };

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(Init);
    const fallback = basename(resolve(args.dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'pbx';
    await assertCiWritable(args.dir, flags.ci, flags.force);
    const result = await scaffoldRepo(args.dir, { name: flags.name ?? fallback, domain: flags.domain, timezone: flags.timezone, force: flags.force });
    const ci = await writeCiPipeline(args.dir, flags.ci, { force: flags.force });
    result.files = [...result.files.filter((f) => !ci.removed.includes(f)), ...ci.written.filter((f) => !result.files.includes(f))];
    this.log(`Created a PBX repo in ${args.dir} (${result.files.length} files, ${result.secrets.length} generated secrets in .secrets.yaml).`);
    this.log('Next: `pbxctl validate` checks it; edit the YAML files, then `pbxctl plan`.');
    if (ci.written.length) this.log(`CI: ${ci.written.join(', ')} (set the PBX_SSH_KEY, PBX_KNOWN_HOSTS and PBX_SECRETS secrets it names); \`pbxctl hooks install\` adds a pre-commit check.`);
    return result;
  }
}
