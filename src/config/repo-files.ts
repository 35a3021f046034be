/**
 * Reading a repo from disk: the only I/O of validation. Everything after this works on
 * the in-memory snapshot, so the core stays pure and testable without a filesystem.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { PbxError } from '../lib/errors.js';
import type { PbxConfig } from '../model/types.js';
import { loadRootConfig } from './load.js';

/** One YAML file of the repo: repo-relative path (`/` separators) and raw bytes. */
export interface RepoFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * Access to non-YAML files the repo references (audio prompts), by repo-relative path.
 * `read` returns undefined when the file does not exist or is not a readable regular file.
 */
export interface AssetReader {
  read(path: string): Promise<Uint8Array | undefined>;
}

/** A repo loaded from disk: its YAML files (sorted by path) and access to its other files. */
export interface RepoSnapshot {
  root: string;
  files: RepoFile[];
  assets: AssetReader;
}

/** Files larger than this are reported (`file-too-large`) instead of parsed: 16 MiB. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

const YAML_FILE = /\.ya?ml$/i;

/**
 * True for paths validation skips: dot-files and dot-directories (.git, .secrets.yaml, .pbxctl)
 * and node_modules.
 */
export function isIgnoredPath(relPath: string): boolean {
  return relPath.split('/').some((part) => part.startsWith('.') || part === 'node_modules');
}

/**
 * Reads every `*.yaml`/`*.yml` file under `root` (not following directory symlinks).
 * Files over MAX_FILE_BYTES are returned with empty bytes and `tooLarge` noted by size.
 * @throws PbxError REPO_NOT_FOUND when root is missing or not a directory.
 */
export async function readRepo(root: string): Promise<RepoSnapshot & { oversized: { path: string; size: number }[] }> {
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new PbxError('REPO_NOT_FOUND', `${root} is not a directory`, {
      hint: 'Pass the repo directory (the one holding pbx.yaml), or run `pbxctl init DIR` to create one.',
    });
  }
  const entries = await readdir(root, { recursive: true });
  const files: RepoFile[] = [];
  const oversized: { path: string; size: number }[] = [];
  const candidates = entries
    .map((e) => e.split(sep).join('/'))
    .filter((p) => YAML_FILE.test(p) && !isIgnoredPath(p))
    .sort();
  for (const rel of candidates) {
    const abs = join(root, rel);
    const st = await lstat(abs).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (st.size > MAX_FILE_BYTES) {
      oversized.push({ path: rel, size: st.size });
      continue;
    }
    files.push({ path: rel, bytes: await readFile(abs) });
  }
  return { root, files, oversized, assets: diskAssets(root) };
}

/** An AssetReader over a directory; refuses paths that escape it. */
export function diskAssets(root: string): AssetReader {
  return {
    async read(path: string) {
      const abs = join(root, path);
      if (relative(root, abs).startsWith('..')) return undefined;
      const st = await stat(abs).catch(() => undefined);
      if (!st?.isFile() || st.size > MAX_FILE_BYTES * 8) return undefined;
      return readFile(abs).catch(() => undefined);
    },
  };
}

/**
 * The pbx.yaml of the repo at `dir`, for commands that only need its node list: undefined when
 * `dir` is no readable repo or its pbx.yaml is missing or invalid (the command then works from
 * what the target itself offers, e.g. the lab node; `validate` is where a broken repo is reported).
 * Never throws.
 */
export async function readPbxConfig(dir: string): Promise<PbxConfig | undefined> {
  return readRepo(dir).then((s) => loadRootConfig(s.files)).catch(() => undefined);
}
