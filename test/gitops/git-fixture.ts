/** Real git repos in temp directories for the gitops tests (the `git` binary, no network). */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Runs git in `cwd` with a fixed identity and no user/system config; returns trimmed stdout. */
export function gitIn(cwd: string, args: string[], author = 'Alice Smith <alice@example.com>'): string {
  const [, name = 'x', email = 'x@x'] = /^(.*?) <(.*)>$/.exec(author) ?? [];
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: email,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** A temp dir; `cleanup` removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `pbxctl-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes files (path -> content) under `root`, creating folders. */
export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), content);
  }
}

/** `git init -b main` in `dir`. */
export function initRepo(dir: string): void {
  gitIn(dir, ['init', '-q', '-b', 'main']);
}

/** Writes `files`, stages everything and commits as `author`; returns the new commit's SHA. */
export async function commitFiles(dir: string, files: Record<string, string>, message: string, author?: string): Promise<string> {
  await writeFiles(dir, files);
  gitIn(dir, ['add', '-A'], author);
  gitIn(dir, ['commit', '-q', '--no-verify', '-m', message], author);
  return gitIn(dir, ['rev-parse', 'HEAD']);
}
