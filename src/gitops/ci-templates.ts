/**
 * CI pipelines `pbxctl init` offers (templates/ci/): GitHub Actions or GitLab CI, each validating
 * with annotations, posting the plan on pull/merge requests, deploying the main branch with
 * `pbxctl sync` using the node's SSH key from a CI secret, and checking drift on a schedule.
 * The scaffold (config/scaffold.ts) writes a validate-only GitHub workflow; init replaces it with
 * the chosen pipeline here, so there is one source for each pipeline.
 */
import { mkdir, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PbxError } from '../lib/errors.js';
import { PACKAGE_SPEC } from '../lib/package-info.js';

/** Directory of the pipelines: `<package>/templates/ci`. */
export const CI_TEMPLATE_DIR = fileURLToPath(new URL('../../templates/ci/', import.meta.url));

/** The pipelines init offers. */
export const CI_KINDS = ['github', 'gitlab', 'none'] as const;
export type CiKind = (typeof CI_KINDS)[number];

/** Where each pipeline goes in a repo, and its template. */
const FILES: Record<Exclude<CiKind, 'none'>, { template: string; path: string }> = {
  github: { template: 'github/pbxctl.yml', path: '.github/workflows/pbxctl.yml' },
  gitlab: { template: 'gitlab/gitlab-ci.yml', path: '.gitlab-ci.yml' },
};

/** The scaffold's own workflow, replaced by the chosen pipeline (or removed with `none`/`gitlab`). */
export const SCAFFOLD_WORKFLOW = '.github/workflows/pbxctl.yml';

/** Removes `dir` and its parents up to `root` while they are empty. */
async function pruneEmpty(root: string, dir: string): Promise<void> {
  while (dir.startsWith(root) && dir !== root) {
    if ((await readdir(dir).catch(() => ['x'])).length) return;
    await rmdir(dir).catch(() => undefined);
    dir = dirname(dir);
  }
}

/**
 * Checks, before anything is scaffolded, that the pipeline file can be written.
 * @throws PbxError INIT_WOULD_OVERWRITE when it exists (and is not the scaffold's own workflow, which
 *   the scaffold's own check covers) and `force` is not set
 */
export async function assertCiWritable(dir: string, kind: CiKind, force: boolean): Promise<void> {
  const spec = kind === 'none' ? undefined : FILES[kind];
  if (!spec || spec.path === SCAFFOLD_WORKFLOW || force) return;
  if (await stat(join(dir, spec.path)).catch(() => undefined)) {
    throw new PbxError('INIT_WOULD_OVERWRITE', `${dir} already has ${spec.path}`, { hint: 'Pass --force to overwrite it, or choose --ci none.' });
  }
}

/**
 * Writes the `kind` pipeline into the freshly scaffolded repo `dir`, replacing the scaffold's
 * validate-only workflow. The pipeline installs exactly this pbxctl (`{{pbxctlPackage}}` becomes
 * PACKAGE_SPEC, e.g. `pbxctl@0.1.0`).
 * @param scaffolded whether `dir` was just scaffolded (then the scaffold's workflow may be replaced)
 * @param force overwrite an existing pipeline file that init did not just write
 * @returns files written and removed, repo-relative
 * @throws PbxError INIT_WOULD_OVERWRITE when the pipeline file exists and neither applies
 */
export async function writeCiPipeline(dir: string, kind: CiKind, opts: { force: boolean }): Promise<{ written: string[]; removed: string[] }> {
  const removed: string[] = [];
  const written: string[] = [];
  const spec = kind === 'none' ? undefined : FILES[kind];
  if (spec?.path !== SCAFFOLD_WORKFLOW) {
    // The scaffold wrote its workflow moments ago: drop it when another (or no) pipeline was chosen.
    await rm(join(dir, SCAFFOLD_WORKFLOW), { force: true });
    await pruneEmpty(dir, dirname(join(dir, SCAFFOLD_WORKFLOW)));
    removed.push(SCAFFOLD_WORKFLOW);
  }
  if (spec) {
    await assertCiWritable(dir, kind, opts.force);
    const out = join(dir, spec.path);
    await mkdir(dirname(out), { recursive: true });
    // Pinned to this pbxctl: a pipeline must not jump to a newer release than the repo was made with.
    const text = await readFile(join(CI_TEMPLATE_DIR, spec.template), 'utf8');
    await writeFile(out, text.replaceAll('{{pbxctlPackage}}', PACKAGE_SPEC));
    written.push(spec.path);
  }
  return { written, removed };
}
