import { Args, Flags } from '@oclif/core';
import { basename, resolve } from 'node:path';
import { scaffoldRepo, type InitResult } from '../config/scaffold.js';
import { BaseCommand } from '../lib/base-command.js';

export default class Init extends BaseCommand {
  static override summary = 'Create a new PBX repo that validates clean.';
  static override description = 'Writes pbx.yaml, one resource of each kind, a .gitignore for secrets, a GitHub Actions workflow that runs validate, local JSON Schema copies (.schemas/) for editor help, and a git-ignored .secrets.yaml with generated passwords and PINs.';
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
  };

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(Init);
    const fallback = basename(resolve(args.dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'pbx';
    const result = await scaffoldRepo(args.dir, { name: flags.name ?? fallback, domain: flags.domain, timezone: flags.timezone, force: flags.force });
    this.log(`Created a PBX repo in ${args.dir} (${result.files.length} files, ${result.secrets.length} generated secrets in .secrets.yaml).`);
    this.log('Next: `pbxctl validate` checks it; edit the YAML files, then `pbxctl plan`.');
    return result;
  }
}
