/** The CI pipelines init offers: where they go, and that each does what docs/gitops.md says. */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { scaffoldRepo } from '../../src/config/scaffold.js';
import { CI_TEMPLATE_DIR, SCAFFOLD_WORKFLOW, assertCiWritable, writeCiPipeline } from '../../src/gitops/ci-templates.js';
import { PACKAGE_SPEC } from '../../src/lib/package-info.js';
import { pbxctl } from '../cli/helpers.js';
import { tempDir } from './git-fixture.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('ci');
});
afterAll(() => tmp.cleanup());

const exists = (p: string) => stat(p).then(() => true, () => false);
const scaffold = (dir: string) => scaffoldRepo(dir, { name: 'acme', domain: 'pbx.example.com', timezone: 'UTC', force: false });

describe('writeCiPipeline after init scaffolds', () => {
  it('github: replaces the scaffold\'s validate-only workflow with the full pipeline', async () => {
    const dir = join(tmp.dir, 'gh');
    await scaffold(dir);
    const r = await writeCiPipeline(dir, 'github', { force: false });
    expect(r).toEqual({ written: [SCAFFOLD_WORKFLOW], removed: [] });
    const written = await readFile(join(dir, SCAFFOLD_WORKFLOW), 'utf8');
    expect(written).toBe((await readFile(join(CI_TEMPLATE_DIR, 'github/pbxctl.yml'), 'utf8')).replaceAll('{{pbxctlPackage}}', PACKAGE_SPEC));
    // Pinned to the pbxctl that wrote it, installed by that spec in every job.
    expect(PACKAGE_SPEC).toMatch(/^pbxctl@\d+\.\d+\.\d+/);
    expect(parse(written).env).toEqual({ PBXCTL_PACKAGE: PACKAGE_SPEC });
    expect(written).not.toContain('{{pbxctlPackage}}');
    expect(written.match(/npm install -g "\$\{PBXCTL_PACKAGE\}"/g)?.length).toBe(4);
  });

  it('the scaffold\'s own validate workflow installs the same pinned pbxctl', async () => {
    const dir = join(tmp.dir, 'scaffold-pin');
    await scaffold(dir);
    const text = await readFile(join(dir, SCAFFOLD_WORKFLOW), 'utf8');
    expect(text).toContain(`npm install -g "${PACKAGE_SPEC}"`);
  });

  it('gitlab: writes .gitlab-ci.yml and removes the GitHub workflow and its empty folders', async () => {
    const dir = join(tmp.dir, 'gl');
    await scaffold(dir);
    const r = await writeCiPipeline(dir, 'gitlab', { force: false });
    expect(r).toEqual({ written: ['.gitlab-ci.yml'], removed: [SCAFFOLD_WORKFLOW] });
    expect(parse(await readFile(join(dir, '.gitlab-ci.yml'), 'utf8')).variables).toEqual({ PBXCTL_PACKAGE: PACKAGE_SPEC });
    expect(await exists(join(dir, '.github'))).toBe(false);
  });

  it('none: no pipeline at all; an existing .gitlab-ci.yml is only overwritten with force', async () => {
    const dir = join(tmp.dir, 'none');
    await scaffold(dir);
    expect(await writeCiPipeline(dir, 'none', { force: false })).toEqual({ written: [], removed: [SCAFFOLD_WORKFLOW] });
    expect(await exists(join(dir, '.github'))).toBe(false);
    await writeFile(join(dir, '.gitlab-ci.yml'), 'mine: true\n');
    await expect(assertCiWritable(dir, 'gitlab', false)).rejects.toMatchObject({ code: 'INIT_WOULD_OVERWRITE' });
    await assertCiWritable(dir, 'gitlab', true);
    await assertCiWritable(dir, 'github', false);
  });
});

describe('the GitHub Actions pipeline', () => {
  it('validates with annotations, plans and comments on pull requests, deploys main with sync, checks drift on schedule', async () => {
    const wf = parse(await readFile(join(CI_TEMPLATE_DIR, 'github/pbxctl.yml'), 'utf8')) as { jobs: Record<string, { if?: string; steps: { run?: string; env?: Record<string, string> }[]; permissions?: Record<string, string> }> };
    const runs = (job: string) => wf.jobs[job]!.steps.map((s) => s.run ?? '').join('\n');
    expect(runs('validate')).toContain('pbxctl validate --format github');
    expect(wf.jobs.plan!.if).toBe("github.event_name == 'pull_request'");
    expect(runs('plan')).toMatch(/pbxctl plan .*--detailed-exitcode/);
    expect(runs('plan')).toContain('gh pr comment');
    expect(wf.jobs.plan!.permissions).toMatchObject({ 'pull-requests': 'write' });
    expect(wf.jobs.deploy!.if).toContain("github.ref == 'refs/heads/main'");
    expect(runs('deploy')).toMatch(/pbxctl sync --repo \. --ref HEAD/);
    expect(runs('deploy')).toContain('ssh-add -');
    expect(JSON.stringify(wf.jobs.deploy!.steps)).toContain('secrets.PBX_SSH_KEY');
    expect(runs('drift')).toContain('pbxctl drift');
  });
});

describe('the GitLab CI pipeline', () => {
  it('reports Code Quality findings, posts the plan note on merge requests, deploys the default branch', async () => {
    const text = await readFile(join(CI_TEMPLATE_DIR, 'gitlab/gitlab-ci.yml'), 'utf8');
    const ci = parse(text, { merge: true }) as Record<string, { script?: unknown[]; rules?: { if: string }[]; artifacts?: { reports?: Record<string, string> } }>;
    const script = (job: string) => JSON.stringify(ci[job]!.script);
    expect(script('validate')).toContain('pbxctl validate --json');
    expect(ci.validate!.artifacts?.reports?.codequality).toBe('gl-code-quality-report.json');
    expect(ci.plan!.rules![0]!.if).toContain('merge_request_event');
    expect(script('plan')).toContain('merge_requests/${CI_MERGE_REQUEST_IID}/notes');
    expect(ci.deploy!.rules![0]!.if).toContain('$CI_DEFAULT_BRANCH');
    expect(script('deploy')).toContain('pbxctl sync --repo . --ref HEAD');
    expect(script('deploy')).toContain('ssh-add');
    expect(script('drift')).toContain('pbxctl drift');
  });

  it('its Code Quality converter turns validate --json into findings (run with node as CI runs it)', async () => {
    const ci = parse(await readFile(join(CI_TEMPLATE_DIR, 'gitlab/gitlab-ci.yml'), 'utf8'), { merge: true }) as { validate: { script: string[] } };
    const converter = ci.validate.script.find((s) => s.includes('gl-code-quality-report.json'))!;
    const js = /node -e '([\s\S]*)'/.exec(converter)![1]!;
    const dir = join(tmp.dir, 'cq');
    await mkdir(dir);
    await writeFile(join(dir, 'validate.json'), JSON.stringify({ diagnostics: [{ severity: 'error', rule: 'unresolved-reference', file: 'ivrs/main.yaml', line: 16, col: 8, message: 'no such extension', hint: 'Did you mean 350?' }] }));
    execFileSync(process.execPath, ['-e', js], { cwd: dir });
    const out = JSON.parse(await readFile(join(dir, 'gl-code-quality-report.json'), 'utf8'));
    expect(out).toEqual([{ description: 'unresolved-reference: no such extension (Did you mean 350?)', check_name: 'unresolved-reference', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), severity: 'major', location: { path: 'ivrs/main.yaml', lines: { begin: 16 } } }]);
  });
});

describe('pbxctl init --ci (the built CLI)', () => {
  it('offers the pipelines: gitlab writes .gitlab-ci.yml only, and the repo still validates', async () => {
    const dir = join(tmp.dir, 'init-gitlab');
    const r = await pbxctl(['init', dir, '--ci', 'gitlab', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: string[] }).files;
    expect(files).toContain('.gitlab-ci.yml');
    expect(files).not.toContain(SCAFFOLD_WORKFLOW);
    expect(await exists(join(dir, '.github'))).toBe(false);
    expect((await pbxctl(['validate', dir, '--strict'])).code).toBe(0);
    const bad = await pbxctl(['init', join(tmp.dir, 'x'), '--ci', 'jenkins']);
    expect(bad.code).toBe(64);
  }, 30_000);
});
