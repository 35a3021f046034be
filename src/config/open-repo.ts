/**
 * Loading a repo for commands that act on a node (plan, apply): it must validate without errors and
 * every secret must resolve. The git commit it is at is recorded with deployments.
 */
import { simpleGit } from 'simple-git';
import type { Diagnostic } from '../lib/diagnostics.js';
import { PbxError } from '../lib/errors.js';
import type { DesiredState } from '../model/types.js';
import type { SecretResolver } from './secrets.js';
import { validateRepoDir } from './validate.js';

export interface OpenedRepo {
  dir: string;
  state: DesiredState;
  secrets: SecretResolver;
  /** HEAD commit (40 hex), with `+dirty` when the work tree has changes; undefined outside git. */
  commit?: string;
  /** Warnings (errors abort). */
  diagnostics: Diagnostic[];
}

/** The repo's git commit, or undefined when DIR is not in a git work tree. */
export async function gitCommit(dir: string): Promise<string | undefined> {
  try {
    const git = simpleGit({ baseDir: dir });
    if (!(await git.checkIsRepo())) return undefined;
    const sha = (await git.revparse(['HEAD'])).trim();
    const status = await git.status(['--porcelain', '--', '.']);
    return status.isClean() ? sha : `${sha}+dirty`;
  } catch {
    return undefined; // no commits yet, or git missing: deployments just carry no commit
  }
}

/**
 * Validates and loads DIR.
 * @param onDiagnostics called with all diagnostics before an INVALID_REPO error, so the command can print them
 * @throws PbxError INVALID_REPO (validation errors), SECRETS_UNRESOLVED (secret references without a value)
 */
export async function openRepo(dir: string, opts: { secretsFile?: string; onDiagnostics?: (d: Diagnostic[]) => void }): Promise<OpenedRepo> {
  const result = await validateRepoDir(dir, { strict: false, secretsFile: opts.secretsFile });
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const unresolved = result.diagnostics.filter((d) => d.rule === 'unresolved-secret');
  if (errors.length || !result.state) {
    opts.onDiagnostics?.(result.diagnostics);
    throw new PbxError('INVALID_REPO', `${dir} has ${errors.length} validation error${errors.length === 1 ? '' : 's'}`, { hint: `Run pbxctl validate ${dir} and fix them.` });
  }
  if (unresolved.length) {
    opts.onDiagnostics?.(unresolved);
    throw new PbxError('SECRETS_UNRESOLVED', `${unresolved.length} secret reference${unresolved.length === 1 ? '' : 's'} have no value`, { hint: 'Set them in the environment or the secrets file (see README "Secrets"), or pass --secrets FILE.' });
  }
  return { dir, state: result.state, secrets: result.secrets, commit: await gitCommit(dir), diagnostics: result.diagnostics };
}
