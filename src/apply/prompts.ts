/**
 * The prompts a release ships, at the edges of plan and apply: plan hashes the repo's audio files
 * (prompt ids are content addresses, compile/prompts.ts), apply renders every prompt into a local
 * cache before it stages the release (media/prompt-render.ts: espeak-ng and sox run on the machine
 * running pbxctl, never on the node), and the executor copies the rendered bytes into
 * `releases/<id>/prompts/<prompt id>`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { promptFiles, type FileHashes, type PromptSpec } from '../compile/prompts.js';
import { PbxError } from '../lib/errors.js';
import { renderPrompts, type PromptRenderOptions, type RenderedPrompt } from '../media/prompt-render.js';
import type { DesiredState } from '../model/types.js';

/** Reads a rendered prompt's bytes by prompt id (what the executor writes to `prompts/<id>`). */
export type PromptReader = (id: string) => Promise<Buffer>;

/** The prompt cache: `$XDG_CACHE_HOME/pbxctl/prompts`, else `~/.cache/pbxctl/prompts`. */
export function promptCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pbxctl', 'prompts');
}

/**
 * sha256 of every audio file the state plays (compile/prompts.ts promptFiles), read from the repo.
 * @param repoDir the repo root; may be undefined only when the state references no audio file
 * @throws PbxError PROMPT_FILE_MISSING when a file cannot be read (it was deleted after validation)
 * @throws Error when the state has audio files and no repoDir was given (a caller bug)
 */
export async function hashPromptFiles(state: DesiredState, repoDir: string | undefined): Promise<FileHashes> {
  const files = promptFiles(state);
  if (files.length === 0) return {};
  if (repoDir === undefined) throw new Error(`the repo references ${files.length} audio file(s) but no repo directory was given to read them from`);
  const root = resolve(repoDir);
  const entries = await Promise.all(files.map(async (file): Promise<[string, string]> => {
    const path = resolve(root, file);
    const rel = relative(root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new PbxError('PROMPT_FILE_MISSING', `audio file ${file} is outside the repo ${root}`, { hint: 'Prompt files are relative to the repo root, e.g. prompts/welcome.wav.' });
    }
    const bytes = await readFile(path).catch((e: unknown) => {
      throw new PbxError('PROMPT_FILE_MISSING', `cannot read audio file ${path}: ${e instanceof Error ? e.message : String(e)}`, {
        hint: `Commit ${file} to the repo, or use text: to synthesize the prompt; then run pbxctl validate.`,
        cause: e,
      });
    });
    return [file, createHash('sha256').update(bytes).digest('hex')];
  }));
  return Object.fromEntries(entries);
}

/** What {@link renderNodePrompts} did. */
export interface RenderedNodePrompts {
  /** Reads a prompt's WAV bytes by id, from the cache. */
  read: PromptReader;
  rendered: RenderedPrompt[];
  /** How many were already in the cache. */
  cached: number;
}

/**
 * Renders a release's prompts into the cache (or finds them there) and returns a reader for the
 * executor. Done before apply stages anything, so a missing tool or a changed file fails with
 * nothing written on the node.
 * @param opts.cacheDir default {@link promptCacheDir}
 * @throws PromptRenderError (PROMPT_TOOL_MISSING, PROMPT_FILE_CHANGED, ...: media/prompt-render.ts)
 */
export async function renderNodePrompts(specs: readonly PromptSpec[], opts: Omit<PromptRenderOptions, 'cacheDir'> & { cacheDir?: string }): Promise<RenderedNodePrompts> {
  const rendered = await renderPrompts(specs, { ...opts, cacheDir: opts.cacheDir ?? promptCacheDir() });
  const paths = new Map(rendered.map((r) => [r.id, r.path]));
  return {
    rendered,
    cached: rendered.filter((r) => r.cached).length,
    read: async (id) => {
      const path = paths.get(id);
      if (!path) throw new Error(`prompt ${id} was not rendered for this release`);
      return readFile(path);
    },
  };
}
