/**
 * The git edges of GitOps (simple-git over the `git` binary): resolving commits and their authors,
 * exporting one commit's tree into a directory (what rollback and sync plan from), and fetching a
 * ref of a remote or local repo into a bare cache repo (what sync deploys).
 *
 * Git hooks run with GIT_DIR (and, for pre-receive, GIT_QUARANTINE_PATH...) set for the repo being
 * pushed to; a pbxctl started from a hook must not let those leak into the git commands it runs on
 * other repos, so every command here runs with them removed ({@link gitEnv}).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { simpleGit, type SimpleGit } from 'simple-git';
import { PbxError } from '../lib/errors.js';

const run = promisify(execFile);

/** A commit as history and deployment records show it. */
export interface CommitInfo {
  /** Full 40-hex SHA-1 (or 64-hex SHA-256) object name. */
  sha: string;
  /** `Name <email>` of the commit's author. */
  author: string;
  /** First line of the message. */
  subject: string;
  /** Author date, ISO 8601. */
  date: string;
}

/** Variables git sets for hooks that point at the pushed-to repo; removed before running git elsewhere. */
const REPO_LOCAL_VARS = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH', 'GIT_COMMON_DIR', 'GIT_PREFIX', 'GIT_NAMESPACE'];

/** `env` without the repo-local git variables (see the module comment). Pure. */
export function gitEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !REPO_LOCAL_VARS.includes(k)) out[k] = v;
  // Never stop to ask for a password: sync runs unattended (CI, hooks, a loop on the node).
  out.GIT_TERMINAL_PROMPT = '0';
  return out;
}

/**
 * simple-git on `baseDir` with {@link gitEnv}. The user's own environment (GIT_SSH_COMMAND for a
 * deploy key, a pager, an editor) is trusted: simple-git's checks are for untrusted arguments, and
 * every argument pbxctl passes is checked here first (refs by {@link checkRefName}).
 */
export function git(baseDir: string): SimpleGit {
  return simpleGit({
    baseDir,
    unsafe: { allowUnsafeSshCommand: true, allowUnsafePager: true, allowUnsafeEditor: true, allowUnsafeAskPass: true, allowUnsafeConfigPaths: true },
  }).env(gitEnv());
}

/**
 * Checks a ref or revision name given on the command line: no option-like or control characters,
 * no `..` ranges (git-check-ref-format(1) rules that matter for safety).
 * @throws PbxError BAD_REF
 */
export function checkRefName(ref: string): string {
  // eslint-disable-next-line no-control-regex
  if (!ref || ref.startsWith('-') || /[\x00-\x20\x7f~^:?*[\\]/.test(ref.replace(/\^\{commit\}$/, '')) || ref.includes('..') || ref.endsWith('/') || ref.endsWith('.lock')) {
    throw new PbxError('BAD_REF', `"${ref}" is not a valid git ref name`, { hint: 'Use a branch or tag name such as main or refs/heads/main, or a commit SHA.' });
  }
  return ref;
}

/** The commit `rev` names in the repo at `dir`, or undefined when it has no such commit. */
export async function resolveCommit(dir: string, rev: string): Promise<string | undefined> {
  // Revisions (gitrevisions(7)) may use ~ and ^ (HEAD~1); never an option or whitespace.
  if (!/^[A-Za-z0-9._/~^@{}+-]+$/.test(rev) || rev.startsWith('-')) {
    throw new PbxError('BAD_REF', `"${rev}" is not a commit, branch or tag name`, { hint: 'Use a commit SHA, a branch or tag name, or a revision like HEAD~1.' });
  }
  try {
    return (await git(dir).raw(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Author, subject and date of commit `sha` in the repo at `dir`.
 * @throws PbxError COMMIT_NOT_FOUND
 */
export async function commitInfo(dir: string, sha: string): Promise<CommitInfo> {
  const full = await resolveCommit(dir, sha);
  if (!full) throw new PbxError('COMMIT_NOT_FOUND', `commit ${sha} is not in the repo ${dir}`, { hint: 'Fetch it first (git fetch), or name a commit of this repo.' });
  // NUL-separated: names and subjects may hold any printable character.
  const out = await git(dir).raw(['show', '-s', '--format=%an <%ae>%x00%s%x00%aI', full]);
  const [author = '', subject = '', date = ''] = out.replace(/\n$/, '').split('\0');
  return { sha: full, author, subject, date };
}

/**
 * Whether commit `ancestor` is an ancestor of (or equal to) `descendant` in the repo at `dir`;
 * undefined when git cannot tell (a commit the repo does not have).
 */
export async function isAncestor(dir: string, ancestor: string, descendant: string): Promise<boolean | undefined> {
  for (const c of [ancestor, descendant]) if (!/^[0-9a-f]{40,64}$/i.test(c)) throw new Error(`isAncestor needs full commit ids, got "${c}"`);
  if (!(await resolveCommit(dir, descendant)) || !(await resolveCommit(dir, ancestor))) return undefined;
  // The answer is the exit status alone (0 yes, 1 no), which simple-git does not surface: run git directly.
  try {
    await run('git', ['-C', dir, 'merge-base', '--is-ancestor', ancestor, descendant], { env: gitEnv() });
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === 1 ? false : undefined;
  }
}

/**
 * Writes the tree of commit `sha` (files only, no .git) into a new temporary directory: what
 * `git archive` exports, so the result is exactly the committed content whatever the work tree holds.
 * @returns the directory and a function removing it
 * @throws PbxError COMMIT_NOT_FOUND; GIT_FAILED when git or tar fails
 */
export async function exportTree(dir: string, sha: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const full = await resolveCommit(dir, sha);
  if (!full) throw new PbxError('COMMIT_NOT_FOUND', `commit ${sha} is not in the repo ${dir}`, { hint: 'Fetch it first (git fetch), or name a commit of this repo.' });
  const out = await mkdtemp(join(tmpdir(), `pbxctl-tree-${full.slice(0, 12)}-`));
  const cleanup = () => rm(out, { recursive: true, force: true });
  const tar = join(out, '.pbxctl-tree.tar');
  try {
    await git(dir).raw(['archive', '--format=tar', '-o', tar, full]);
    await run('tar', ['-xf', tar, '-C', out], { env: gitEnv() });
    await rm(tar);
  } catch (e) {
    await cleanup();
    throw new PbxError('GIT_FAILED', `cannot export commit ${full.slice(0, 12)} from ${dir}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return { dir: out, cleanup };
}

/** The sync cache root: `$XDG_CACHE_HOME/pbxctl/sync`, else `~/.cache/pbxctl/sync`. */
export function syncCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pbxctl', 'sync');
}

/**
 * A repo source as git understands it: URLs (`https://`, `ssh://`, `git@host:path`) as given, local
 * directories made absolute (relative to `cwd`). Pure.
 */
export function normalizeSource(repo: string, cwd = process.cwd()): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^/\s:]+:/.test(repo)) return repo;
  return isAbsolute(repo) ? repo : resolve(cwd, repo);
}

/** The bare cache repo for a source: one per source (sha256 of its normalized form). Pure. */
export function cacheRepoFor(source: string, root: string): string {
  const tail = source.replace(/\/+$/, '').split(/[/:]/).pop()!.replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]+/g, '-') || 'repo';
  return join(root, `${tail}-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.git`);
}

/**
 * Fetches `ref` of `source` into the bare cache repo `cacheRepo` (created on first use) and
 * returns the commit it points at. The ref is stored as `refs/pbxctl/sync` in the cache so later
 * fetches are incremental; a force-pushed ref is followed (the source is the truth).
 * @throws PbxError BAD_REF; FETCH_FAILED (unreachable source, unknown ref, auth refused) with git's message
 */
export async function fetchRef(source: string, ref: string, cacheRepo: string): Promise<CommitInfo> {
  checkRefName(ref);
  await mkdir(cacheRepo, { recursive: true });
  const g = git(cacheRepo);
  try {
    if (!(await g.checkIsRepo().catch(() => false)) || !(await g.raw(['rev-parse', '--is-bare-repository']).catch(() => '')).startsWith('true')) {
      await g.raw(['init', '--bare', '--quiet']);
    }
    // Fail closed: a fetch that stores nothing must not leave the previous cycle's commit in place.
    await g.raw(['update-ref', '-d', 'refs/pbxctl/sync']).catch(() => undefined);
    // --update-shallow: CI checkouts are shallow clones; without it git refuses (exit 0!) to store their commits.
    await g.raw(['fetch', '--quiet', '--no-tags', '--force', '--update-shallow', '--', source, `+${ref}:refs/pbxctl/sync`]);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).trim().split('\n').filter(Boolean).slice(-3).join(' ');
    throw new PbxError('FETCH_FAILED', `cannot fetch ${ref} from ${source}: ${msg}`, {
      hint: 'Check the repo address, that the ref exists (git ls-remote), and the credentials (an SSH key via GIT_SSH_COMMAND, a token in the URL).',
      cause: e,
    });
  }
  const fetched = await resolveCommit(cacheRepo, 'refs/pbxctl/sync');
  if (!fetched) throw new PbxError('FETCH_FAILED', `fetching ${ref} from ${source} stored no commit`, { hint: 'Check that the ref names a commit (git ls-remote).' });
  return commitInfo(cacheRepo, fetched);
}
