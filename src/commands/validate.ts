import { Args, Flags } from '@oclif/core';
import { validateRepoDir } from '../config/validate.js';
import { BaseCommand } from '../lib/base-command.js';
import { isFailing, summarize } from '../lib/diagnostics.js';
import { ExitCode } from '../lib/exit-codes.js';
import { renderDiagnosticsGithub, renderDiagnosticsText, renderSummary, type ValidateOutput } from '../render/diagnostics.js';
import { useColor } from '../render/color.js';

export default class Validate extends BaseCommand {
  static override summary = 'Check a PBX repo against the schemas and semantic rules.';
  static override description = `Loads every *.yaml/*.yml file under DIR (dot-files and node_modules excepted), validates each resource against its JSON Schema, then checks numbers, references, routing loops, schedules, dial patterns, audio files and secrets. Reports every problem at once as file:line:col.

Exit codes: 0 valid, 1 errors (or warnings with --strict).`;
  static override examples = [
    { description: 'Validate the repo in the current directory', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Validate an example repo with its sample secrets, failing on warnings too', command: '<%= config.bin %> <%= command.id %> examples/small-office --secrets examples/small-office/.secrets.example.yaml --strict' },
    { description: 'Annotate a pull request in GitHub Actions', command: '<%= config.bin %> <%= command.id %> --format github' },
    { description: 'Machine-readable diagnostics', command: '<%= config.bin %> <%= command.id %> --json' },
  ];
  static override enableJsonFlag = true;
  static override args = {
    dir: Args.directory({ description: 'The repo directory (holding pbx.yaml).', default: '.' }),
  };
  static override flags = {
    format: Flags.option({ options: ['text', 'json', 'github'] as const, default: 'text', description: 'Output format: text (compiler style), json, or github (Actions annotations).' })(),
    secrets: Flags.file({ description: 'Read secret values from this YAML file instead of pbx.yaml secrets.file (environment variables still win).' }),
    strict: Flags.boolean({ default: false, description: 'Treat warnings as errors (and unresolved secrets as errors).' }),
  };

  async run(): Promise<ValidateOutput> {
    const { args, flags } = await this.parse(Validate);
    const result = await validateRepoDir(args.dir, { strict: flags.strict, secretsFile: flags.secrets });
    const failing = isFailing(result.diagnostics, flags.strict);
    const output: ValidateOutput = {
      valid: !failing,
      strict: flags.strict,
      summary: { ...summarize(result.diagnostics), ...result.stats },
      diagnostics: result.diagnostics,
    };
    if (failing) process.exitCode = ExitCode.Error;
    if (this.jsonEnabled()) return output;
    if (flags.format === 'json') {
      this.log(JSON.stringify(output, null, 2));
    } else if (flags.format === 'github') {
      if (result.diagnostics.length) this.log(renderDiagnosticsGithub(result.diagnostics, args.dir));
      this.log(renderSummary(result.diagnostics, result.stats, { color: false, strict: flags.strict }));
    } else {
      const color = useColor(process.stdout);
      if (result.diagnostics.length) this.log(renderDiagnosticsText(result.diagnostics, { color, prefix: args.dir }));
      this.log(renderSummary(result.diagnostics, result.stats, { color, strict: flags.strict }));
    }
    return output;
  }
}
