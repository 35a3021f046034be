/**
 * `validate`: repo snapshot -> desired state + every diagnostic (schema and semantic) at once.
 * The only I/O is through the snapshot's AssetReader and the injected SecretResolver.
 */
import { resolve } from 'node:path';
import { sortDiagnostics, type Diagnostic } from '../lib/diagnostics.js';
import type { DesiredState } from '../model/types.js';
import { CHECKS, CheckContext, type CheckOptions } from './checks/index.js';
import { loadRepo, loadRootConfig } from './load.js';
import { readRepo, type RepoSnapshot } from './repo-files.js';
import { readSecretsFile, secretResolver, type SecretResolver } from './secrets.js';

/** Validation outcome: `state` is set when pbx.yaml loaded (even if resources had errors). */
export interface ValidationResult {
  state?: DesiredState;
  diagnostics: Diagnostic[];
  /** Files and resources seen, for summaries. */
  stats: { files: number; resources: number };
  /** The resolver secrets were checked with; plan/apply resolve values through it. */
  secrets: SecretResolver;
}

/**
 * Validates an in-memory snapshot.
 * @param snapshot the repo's YAML files and asset access
 * @param secrets resolves secret references (see secrets.ts)
 */
export async function validateSnapshot(
  snapshot: Pick<RepoSnapshot, 'files' | 'assets'> & { oversized?: { path: string; size: number }[] },
  secrets: SecretResolver,
  options: CheckOptions,
): Promise<ValidationResult> {
  const loaded = loadRepo(snapshot.files, snapshot.oversized ?? []);
  const diagnostics = [...loaded.diagnostics];
  if (loaded.state && loaded.pbxDoc) {
    const ctx = new CheckContext(loaded.state, loaded.resources, loaded.pbxDoc, loaded.declaredInvalid, snapshot.assets, secrets, options);
    for (const check of CHECKS) await check(ctx);
    for (const d of ctx.diagnostics) diagnostics.push(d); // no spread: >125k items overflow the stack
  }
  return {
    state: loaded.state,
    diagnostics: sortDiagnostics(diagnostics),
    stats: { files: snapshot.files.length, resources: loaded.resources.length },
    secrets,
  };
}

/**
 * Reads and validates the repo at `dir`, resolving secrets from `env` and a secrets file:
 * `options.secretsFile` (a path, relative to the working directory) if given, else pbx.yaml's
 * secrets.file (relative to the repo, default .secrets.yaml).
 * @throws PbxError REPO_NOT_FOUND, SECRETS_FILE_INVALID, SECRETS_FILE_NOT_FOUND
 */
export async function validateRepoDir(dir: string, options: CheckOptions & { secretsFile?: string }, env: NodeJS.ProcessEnv = process.env): Promise<ValidationResult> {
  const snapshot = await readRepo(dir);
  const cfg = loadRootConfig(snapshot.files)?.secrets;
  let values: Record<string, unknown>;
  let file: string;
  if (options.secretsFile !== undefined) {
    file = options.secretsFile;
    values = await readSecretsFile(resolve(file), { required: true });
  } else {
    file = cfg?.file ?? '.secrets.yaml';
    values = await readSecretsFile(resolve(dir, file), { required: false });
  }
  const resolver = secretResolver(env, values, { envPrefix: cfg?.envPrefix ?? 'PBXCTL_SECRET_', file });
  return validateSnapshot(snapshot, resolver, { strict: options.strict });
}
