/** `pbxctl hooks install` with real git: the pre-commit hook refuses invalid commits; existing hooks are kept. */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillTemplate, installPostReceive, installPreCommit, shQuote, type PbxctlCommand } from '../../src/gitops/hooks.js';
import { commitFiles, gitIn, initRepo, tempDir, writeFiles } from './git-fixture.js';

/** The hooks run pbxctl's source through tsx, so this test needs no dist/ build. */
const PBXCTL: PbxctlCommand = {
  node: process.execPath,
  bin: fileURLToPath(new URL('./run-pbxctl-src.mjs', import.meta.url)),
};

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\n';
const ext = (n: string, extra = '') => `kind: Extension\nnumber: "${n}"\nname: E${n}\npassword: \${secret:pw}\n${extra}`;

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: string;
let pbxDir: string;

/** `git commit` through the hooks, with the exit code and stderr. */
function commit(message: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', ['commit', '-q', '-m', message], { cwd: repo, env: { ...process.env, HOME: repo, GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@x', GIT_COMMITTER_NAME: 'A', GIT_COMMITTER_EMAIL: 'a@x' } }, (err, _out, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

beforeAll(async () => {
  tmp = await tempDir('hooks');
  repo = join(tmp.dir, 'work');
  // The PBX repo lives in a sub-folder of the git work tree.
  pbxDir = join(repo, 'pbx');
  await mkdir(pbxDir, { recursive: true });
  initRepo(repo);
  await commitFiles(repo, { 'pbx/pbx.yaml': PBX, 'pbx/extensions/a.yaml': ext('1001'), 'pbx/.gitignore': '.secrets.yaml\n' }, 'base');
  await writeFile(join(pbxDir, '.secrets.yaml'), 'pw: from-the-work-tree\n');
}, 30_000);
afterAll(() => tmp.cleanup());

describe('pre-commit hook', () => {
  it('installs into the work tree holding the PBX repo and refuses a commit whose staged files are invalid', async () => {
    const r = await installPreCommit(pbxDir, { policy: 'refuse', pbxctl: PBXCTL });
    expect(r).toMatchObject({ hook: 'pre-commit', action: 'created', path: join(repo, '.git', 'hooks', 'pre-commit') });
    await writeFiles(pbxDir, { 'extensions/b.yaml': ext('1002', 'forward: {busy: "extension:1999"}\n') });
    gitIn(repo, ['add', '-A']);
    const refused = await commit('bad forward');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/extensions\/b\.yaml:5:\d+ error unresolved-reference/);
    expect(refused.stderr).toContain('commit refused');
    expect(gitIn(repo, ['log', '--format=%s'])).toBe('base');
  }, 60_000);

  it('validates what is staged, not the work tree, and uses the work tree\'s secrets file', async () => {
    // Fixed in the work tree but not staged: still refused.
    await writeFiles(pbxDir, { 'extensions/b.yaml': ext('1002') });
    expect((await commit('still bad')).code).not.toBe(0);
    gitIn(repo, ['add', '-A']);
    const ok = await commit('good');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/unresolved-secret/);
    expect(gitIn(repo, ['log', '-1', '--format=%s'])).toBe('good');
  }, 60_000);

  it('keeps a foreign hook: refuses by default, or chains it (it runs first and can veto)', async () => {
    const path = join(repo, '.git', 'hooks', 'pre-commit');
    await writeFile(path, '#!/bin/sh\necho "lint hook ran" >&2\n[ ! -f "$(git rev-parse --show-toplevel)/VETO" ]\n');
    await chmod(path, 0o755);
    await expect(installPreCommit(pbxDir, { policy: 'refuse', pbxctl: PBXCTL })).rejects.toMatchObject({ code: 'HOOK_EXISTS' });
    expect(await readFile(path, 'utf8')).toContain('lint hook ran');

    const chained = await installPreCommit(pbxDir, { policy: 'chain', pbxctl: PBXCTL });
    expect(chained).toMatchObject({ action: 'chained', chainedTo: `${path}.pre-pbxctl` });
    await writeFiles(repo, { VETO: '' });
    await writeFiles(pbxDir, { 'extensions/c.yaml': ext('1003') });
    gitIn(repo, ['add', 'pbx']);
    const vetoed = await commit('vetoed');
    expect(vetoed.code).not.toBe(0);
    expect(vetoed.stderr).toContain('lint hook ran');
    expect(vetoed.stderr).not.toContain('valid');
    await rm(join(repo, 'VETO'));
    const both = await commit('both ran');
    expect(both.code, both.stderr).toBe(0);
    expect(both.stderr).toContain('lint hook ran');
    expect(both.stderr).toMatch(/✓ valid/);

    // Re-installing keeps the chain; --force replaces only pbxctl's file.
    expect(await installPreCommit(pbxDir, { policy: 'refuse', pbxctl: PBXCTL })).toMatchObject({ action: 'updated', chainedTo: `${path}.pre-pbxctl` });
    expect(await readFile(path, 'utf8')).toContain('pre-commit.pre-pbxctl');
  }, 90_000);

  it('refuses a directory outside git', async () => {
    await expect(installPreCommit(tmp.dir, { policy: 'refuse', pbxctl: PBXCTL })).rejects.toMatchObject({ code: 'NOT_A_GIT_REPO' });
  });
});

describe('post-receive hook', () => {
  it('installs only into a bare repo, with the ref, target, secrets and environment it deploys with', async () => {
    const bare = join(tmp.dir, 'node.git');
    await mkdir(bare);
    gitIn(bare, ['init', '-q', '--bare']);
    await expect(installPostReceive(repo, { policy: 'refuse', ref: 'main' })).rejects.toMatchObject({ code: 'NOT_A_BARE_REPO' });
    await expect(installPostReceive(bare, { policy: 'refuse', ref: 'main', env: { 'BAD NAME': 'x' } })).rejects.toMatchObject({ code: 'BAD_ENV' });
    const r = await installPostReceive(bare, { policy: 'refuse', ref: 'main', target: 'office', secretsFile: '/etc/pbxctl/secrets.yaml', env: { XDG_CACHE_HOME: "/var/cache/it's" }, pbxctl: PBXCTL });
    expect(r).toMatchObject({ hook: 'post-receive', action: 'created', path: join(bare, 'hooks', 'post-receive') });
    const text = await readFile(r.path, 'utf8');
    expect(text).toContain("DEPLOY_REF='refs/heads/main'");
    expect(text).toContain(`sync --repo "$repo" --ref "$DEPLOY_REF" '--target' 'office' '--secrets' '/etc/pbxctl/secrets.yaml' '--lock-timeout' '120s'`);
    expect(text).toContain(`export XDG_CACHE_HOME='/var/cache/it'\\''s'`);
    expect(text).not.toMatch(/\{\{\w+\}\}/);
    // A foreign post-receive: refused, or replaced with --force.
    await writeFile(r.path, '#!/bin/sh\necho mail the team\n');
    await expect(installPostReceive(bare, { policy: 'refuse', ref: 'main', pbxctl: PBXCTL })).rejects.toMatchObject({ code: 'HOOK_EXISTS' });
    expect(await installPostReceive(bare, { policy: 'replace', ref: 'main', pbxctl: PBXCTL })).toMatchObject({ action: 'replaced' });
    expect(await readFile(r.path, 'utf8')).toContain('# pbxctl-hook: post-receive');
  });
});

describe('templates', () => {
  it('quotes for sh and fills every placeholder or fails', () => {
    expect(shQuote("a'b")).toBe(`'a'\\''b'`);
    expect(fillTemplate('{{A}}-{{B}}', { A: '1', B: '2' })).toBe('1-2');
    expect(() => fillTemplate('{{C}}', {})).toThrow(/\{\{C\}\}/);
  });
});
