/**
 * `pbxctl hooks install`: writes git hooks from templates/git/ (githooks(5)):
 * - `pre-commit` in a work tree: validates the staged tree with `pbxctl validate`;
 * - `post-receive` in a bare repo on the node: runs `pbxctl sync` on the pushed ref (push-to-deploy).
 * A hook that is already there and is not pbxctl's is never overwritten silently: the install
 * refuses, or with `chain` keeps it as `<hook>.pre-pbxctl` and runs it first.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PbxError } from '../lib/errors.js';
import { checkRefName, git } from './git.js';

/** Directory of the hook templates: `<package>/templates/git`. */
export const HOOK_TEMPLATE_DIR = fileURLToPath(new URL('../../templates/git/', import.meta.url));

/** The first-line marker of hooks pbxctl wrote (second line of the file). */
export const HOOK_MARKER = '# pbxctl-hook:';

/** What to do with an existing hook that is not pbxctl's. */
export type ExistingHookPolicy = 'refuse' | 'chain' | 'replace';

/** What an install did. */
export interface HookInstallResult {
  hook: 'pre-commit' | 'post-receive';
  path: string;
  /** `created`, `updated` (an earlier pbxctl hook), `chained` (the existing hook runs first), `replaced`. */
  action: 'created' | 'updated' | 'chained' | 'replaced';
  /** Where the previous non-pbxctl hook went when chained. */
  chainedTo?: string;
}

/** How the hook runs pbxctl: this Node binary and this CLI's entry point, overridable per run by env. */
export interface PbxctlCommand {
  node: string;
  bin: string;
}

/** The running pbxctl (process.execPath and the package's bin/pbxctl). */
export function currentPbxctl(): PbxctlCommand {
  return { node: process.execPath, bin: fileURLToPath(new URL('../../bin/pbxctl', import.meta.url)) };
}

/** Quotes a value for /bin/sh (single quotes). Pure. */
export function shQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** Fills `{{NAME}}` placeholders; an unknown one is a bug. Pure. @throws Error naming it */
export function fillTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
    if (!(k in vars)) throw new Error(`hook template placeholder {{${k}}} has no value`);
    return vars[k]!;
  });
}

/** Writes `content` as hook `path`, applying the policy to an existing file. */
async function writeHook(path: string, hook: HookInstallResult['hook'], render: (chainedTo?: string) => string, policy: ExistingHookPolicy): Promise<HookInstallResult> {
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  let action: HookInstallResult['action'] = 'created';
  let chainedTo: string | undefined;
  if (existing !== undefined) {
    const ours = existing.split('\n', 3).some((l) => l.startsWith(HOOK_MARKER));
    if (ours) {
      action = 'updated';
      // Keep chaining what an earlier install chained.
      if (await stat(`${path}.pre-pbxctl`).catch(() => undefined)) chainedTo = `${path}.pre-pbxctl`;
    } else if (policy === 'refuse') {
      throw new PbxError('HOOK_EXISTS', `${path} already exists and was not written by pbxctl`, {
        hint: `Pass --chain to keep it (moved to ${hook}.pre-pbxctl, run first; pbxctl runs only if it succeeds), or --force to replace it.`,
      });
    } else if (policy === 'chain') {
      chainedTo = `${path}.pre-pbxctl`;
      if (await stat(chainedTo).catch(() => undefined)) {
        throw new PbxError('HOOK_EXISTS', `${chainedTo} already exists; will not overwrite it while chaining ${path}`, { hint: 'Merge or remove one of them by hand, then install again.' });
      }
      await rename(path, chainedTo);
      await chmod(chainedTo, 0o755);
      action = 'chained';
    } else {
      action = 'replaced';
    }
  }
  await writeFile(path, render(chainedTo), { mode: 0o755 });
  await chmod(path, 0o755);
  return { hook, path, action, ...(chainedTo ? { chainedTo } : {}) };
}

/**
 * Installs the pre-commit hook for the PBX repo at `dir` (pbx.yaml there; the git work tree may be a
 * parent). Honors core.hooksPath (`git rev-parse --git-path hooks`).
 * @param opts.secretsFile the repo's secrets file name relative to `dir` (pbx.yaml secrets.file), default .secrets.yaml
 * @param opts.strict validate with --strict (warnings fail the commit)
 * @throws PbxError NOT_A_GIT_REPO, HOOK_EXISTS
 */
export async function installPreCommit(dir: string, opts: { policy: ExistingHookPolicy; pbxctl?: PbxctlCommand; secretsFile?: string; strict?: boolean }): Promise<HookInstallResult> {
  const g = git(resolve(dir));
  const top = await g.raw(['rev-parse', '--show-toplevel']).then((s) => s.trim()).catch(() => '');
  if (!top) throw new PbxError('NOT_A_GIT_REPO', `${dir} is not inside a git work tree`, { hint: 'Run git init (or clone the repo) first.' });
  const hooksDir = resolve(resolve(dir), (await g.raw(['rev-parse', '--git-path', 'hooks'])).trim());
  const subdir = relative(top, resolve(dir)) || '.';
  if (subdir.startsWith('..') || isAbsolute(subdir)) throw new Error(`${dir} is outside its work tree ${top}`);
  const cmd = opts.pbxctl ?? currentPbxctl();
  const template = await readFile(join(HOOK_TEMPLATE_DIR, 'pre-commit'), 'utf8');
  const path = join(hooksDir, 'pre-commit');
  await mkdir(hooksDir, { recursive: true });
  return writeHook(path, 'pre-commit', (chainedTo) => fillTemplate(template, {
    CHAIN: chainedTo ? `# The hook that was here before pbxctl's runs first.\n${shQuote(chainedTo)} "$@" || exit $?` : '',
    NODE: shQuote(cmd.node), PBXCTL: shQuote(cmd.bin), SUBDIR: shQuote(subdir),
    SECRETS_FILE: (opts.secretsFile ?? '.secrets.yaml').replace(/[^A-Za-z0-9._/-]/g, ''),
    VALIDATE_FLAGS: opts.strict ? '--strict' : '',
  }), opts.policy);
}

/** Options of {@link installPostReceive}. */
export interface PostReceiveOptions {
  policy: ExistingHookPolicy;
  /** Branch to deploy (`main` or `refs/heads/main`). */
  ref: string;
  target?: string;
  /** Secrets file on the node (absolute, it is read from the hook's directory otherwise). */
  secretsFile?: string;
  /** How long a deploy waits for another apply's lock (`2m`); default 120s. */
  lockTimeout?: string;
  /** Environment set in the hook (e.g. PBXCTL_LAB_DIR, XDG_CACHE_HOME): the pusher's is not the node's. */
  env?: Record<string, string>;
  pbxctl?: PbxctlCommand;
}

/**
 * Installs the post-receive hook into the bare repo `bareRepo`.
 * @throws PbxError NOT_A_BARE_REPO, BAD_REF, HOOK_EXISTS, BAD_ENV
 */
export async function installPostReceive(bareRepo: string, opts: PostReceiveOptions): Promise<HookInstallResult> {
  const repo = resolve(bareRepo);
  const bare = await git(repo).raw(['rev-parse', '--is-bare-repository']).then((s) => s.trim()).catch(() => '');
  if (bare !== 'true') throw new PbxError('NOT_A_BARE_REPO', `${bareRepo} is not a bare git repository`, { hint: `Create one on the node with: git init --bare ${bareRepo}` });
  const ref = checkRefName(opts.ref.startsWith('refs/') ? opts.ref : `refs/heads/${opts.ref}`);
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new PbxError('BAD_ENV', `"${k}" is not an environment variable name`);
    return `export ${k}=${shQuote(v)}`;
  });
  const flags = [
    ...(opts.target ? ['--target', opts.target] : []),
    ...(opts.secretsFile ? ['--secrets', resolve(opts.secretsFile)] : []),
    '--lock-timeout', opts.lockTimeout ?? '120s',
  ].map(shQuote);
  const cmd = opts.pbxctl ?? currentPbxctl();
  const hooksDir = resolve(repo, (await git(repo).raw(['rev-parse', '--git-path', 'hooks'])).trim());
  const template = await readFile(join(HOOK_TEMPLATE_DIR, 'post-receive'), 'utf8');
  return writeHook(join(hooksDir, 'post-receive'), 'post-receive', (chainedTo) => fillTemplate(template, {
    CHAIN: chainedTo ? `# The hook that was here before pbxctl's runs first, with the same input.\nprintf '%s\\n' "$input" | ${shQuote(chainedTo)} "$@" || exit $?` : '',
    NODE: shQuote(cmd.node), PBXCTL: shQuote(cmd.bin), REF: shQuote(ref),
    ENV: env.join('\n'), SYNC_FLAGS: flags.join(' '),
  }), opts.policy);
}
