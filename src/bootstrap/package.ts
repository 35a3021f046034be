/**
 * The feature daemon a node runs is this pbxctl package itself (`pbxctl daemon`): bootstrap packs
 * the installed package (bin, dist, schemas, templates, the oclif manifest, package.json) and its
 * production dependencies' directories into one reproducible tar.gz (sorted names, zeroed owners
 * and times, `gzip -n`), so its sha256 says whether the node already has this exact build. Native
 * modules (better-sqlite3) are shipped as built here: the node must run the same Node ABI.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PbxError } from '../lib/errors.js';

const run = promisify(execFile);

/** The pbxctl package root (src/bootstrap and dist/bootstrap are both two levels below it). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Package entries shipped besides node_modules (package.json "files" plus package.json). */
const SHIPPED = ['bin', 'dist', 'schemas', 'templates', 'oclif.manifest.json', 'package.json'];

interface PackageJson {
  name: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Finds `name` as Node would from `fromDir`: its node_modules, then each parent's, up to `root`. */
function resolveDep(name: string, fromDir: string, root: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === dirname(dir) || relative(root, dir).startsWith('..')) return undefined;
  }
}

/**
 * Directories (relative to `root`) of every production dependency, transitively, as Node resolves
 * them from `root`. Optional dependencies that are not installed are skipped.
 * @throws PbxError PACKAGE_INCOMPLETE naming a required dependency that is not installed
 */
export async function productionDependencies(root: string = PACKAGE_ROOT): Promise<string[]> {
  const seen = new Set<string>();
  const visit = async (pkgDir: string) => {
    const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as PackageJson;
    const deps = [...Object.keys(pkg.dependencies ?? {}).map((n) => [n, false] as const), ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, true] as const)];
    for (const [name, optional] of deps) {
      const dir = resolveDep(name, pkgDir, root);
      if (!dir) {
        if (optional) continue;
        throw new PbxError('PACKAGE_INCOMPLETE', `${name} (needed by ${pkg.name}) is not installed under ${root}`, { hint: 'Run npm ci in the pbxctl package first.' });
      }
      const rel = relative(root, dir);
      if (seen.has(rel)) continue;
      seen.add(rel);
      await visit(dir);
    }
  };
  await visit(root);
  return [...seen].sort();
}

/** A packed pbxctl, ready to upload. */
export interface PackedPbxctl {
  /** The tar.gz file (in `outDir`). */
  file: string;
  /** sha256 of the tar.gz, hex. */
  sha256: string;
  bytes: number;
  /** `process.versions.modules` of the Node that built the native modules. */
  nodeAbi: string;
}

async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/**
 * Packs the pbxctl package at `root` with its production dependencies into `outDir/pbxctl.tar.gz`.
 * @throws PbxError PACKAGE_NOT_BUILT when dist/ is missing (the daemon runs the compiled code),
 *   PACKAGE_INCOMPLETE, PACKAGE_TAR_FAILED
 */
export async function packPbxctl(outDir: string, root: string = PACKAGE_ROOT): Promise<PackedPbxctl> {
  if (!existsSync(join(root, 'dist', 'commands', 'daemon.js'))) {
    throw new PbxError('PACKAGE_NOT_BUILT', `${root} has no dist/ build`, { hint: 'Build pbxctl (npm run build) before bootstrapping a node: the node runs the compiled daemon.' });
  }
  const entries = [...SHIPPED.filter((e) => existsSync(join(root, e))), ...(await productionDependencies(root))];
  const file = join(outDir, 'pbxctl.tar.gz');
  try {
    await run('tar', [
      '-C', root, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--mode=go-w',
      // Source maps and type declarations are not needed to run; test-only files are not in the list at all.
      '--exclude=*.map', '--exclude=*.d.ts', '--use-compress-program=gzip -n', '-cf', file, '--', ...entries,
    ], { maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    throw new PbxError('PACKAGE_TAR_FAILED', `packing pbxctl failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, { cause: e });
  }
  return { file, ...(await sha256File(file)), nodeAbi: process.versions.modules };
}
