/**
 * Renders prompts (compile/prompts.ts PromptSpec) to what RTPengine's `play media` plays: WAV,
 * 8 kHz, mono, 16-bit signed PCM. Text is synthesized with espeak-ng, then resampled with sox; repo
 * audio files are converted with sox. I/O at the edge: everything else about prompts is pure.
 *
 * Results live in a cache directory under their id. Ids are content addresses, so a file that is
 * there and reads as the right format is the right audio: an unchanged prompt is never synthesized
 * again. Writes are atomic (temp file in the cache directory, then rename), so a crash or a
 * concurrent apply never leaves a half-written prompt under a valid name.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseWav, type WavInfo } from '../config/checks/assets.js';
import { PbxError } from '../lib/errors.js';
import type { PromptSpec } from '../compile/prompts.js';

/** The format every rendered prompt has (RTPengine plays it to G.711 callers without resampling). */
export const PROMPT_FORMAT = { format: 1, sampleRate: 8000, channels: 1, bitsPerSample: 16 } as const;

/** Where and with what to render. */
export interface PromptRenderOptions {
  /** The repo root: `file` prompts are relative to it. */
  repoDir: string;
  /** The cache directory (created if missing); rendered prompts are `<cacheDir>/<id>`. */
  cacheDir: string;
  /** espeak-ng executable (default `espeak-ng` from PATH). */
  espeakNg?: string;
  /** sox executable (default `sox` from PATH). */
  sox?: string;
  /** Limit for one tool run, ms (default 60 s). */
  timeoutMs?: number;
}

/** A prompt ready to ship. */
export interface RenderedPrompt {
  id: string;
  /** Absolute path of the WAV file in the cache. */
  path: string;
  /** Whether it was already in the cache (nothing ran). */
  cached: boolean;
  /** Playing time, ms. */
  durationMs: number;
}

/**
 * A prompt that could not be rendered. Codes: PROMPT_TOOL_MISSING (espeak-ng or sox not installed),
 * PROMPT_FILE_MISSING, PROMPT_FILE_CHANGED (the file's sha256 differs from the spec's: the repo
 * changed after the plan), PROMPT_RENDER_FAILED (a tool failed: stderr in the message),
 * PROMPT_OUTPUT_INVALID (the result is not an 8 kHz mono 16-bit WAV).
 */
export class PromptRenderError extends PbxError {
  constructor(
    code: string,
    /** The prompt id. */
    readonly promptId: string,
    /** The repo file of a file prompt, or the text's start for a text prompt. */
    readonly source: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, `prompt ${promptId} (${source}): ${message}`, options);
    this.name = 'PromptRenderError';
  }
}

const ID = /^[a-z][a-z0-9-]{0,80}\.wav$/;
const describeSource = (spec: PromptSpec) =>
  'file' in spec.source ? spec.source.file
    : 'tone' in spec.source ? `tone ${spec.source.tone.frequencyHz} Hz ${spec.source.tone.durationMs} ms`
      : `text "${spec.source.text.length > 40 ? `${spec.source.text.slice(0, 37)}...` : spec.source.text}"`;

/** What a WAV file's header says, checked against PROMPT_FORMAT; a reason when it is not that. */
export function checkPromptWav(bytes: Uint8Array): WavInfo | { error: string } {
  const info = parseWav(bytes);
  if ('error' in info) return info;
  const f = PROMPT_FORMAT;
  if (info.format !== f.format || info.sampleRate !== f.sampleRate || info.channels !== f.channels || info.bitsPerSample !== f.bitsPerSample) {
    return { error: `format ${info.format}, ${info.sampleRate} Hz, ${info.channels} channel(s), ${info.bitsPerSample}-bit; expected PCM 8000 Hz mono 16-bit` };
  }
  if (info.dataBytes === 0) return { error: 'no audio samples' };
  return info;
}

const durationOf = (info: WavInfo) => Math.round((info.dataBytes / (info.channels * (info.bitsPerSample / 8)) / info.sampleRate) * 1000);

/** Runs a tool; resolves with its exit code and stderr, rejects with the spawn error (ENOENT...). */
function run(cmd: string, args: string[], input: string | undefined, timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    // espeak-ng reports some errors (an unknown voice) on stdout: keep both for the message.
    child.stdout.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: signal ? null : code, stderr: stderr.trim() }));
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin: the exit code tells
    child.stdin.end(input ?? '');
  });
}

/** The cache file of a prompt id. */
export function promptCachePath(cacheDir: string, id: string): string {
  return join(resolve(cacheDir), id);
}

/**
 * Renders one prompt into the cache, or finds it there.
 * @throws PromptRenderError (see its codes)
 * @throws Error when the spec's id is not a plain file name (a bug: ids come from compile/prompts.ts)
 */
export async function renderPrompt(spec: PromptSpec, opts: PromptRenderOptions): Promise<RenderedPrompt> {
  if (!ID.test(spec.id)) throw new Error(`prompt id ${JSON.stringify(spec.id)} is not a plain WAV file name`);
  const cacheDir = resolve(opts.cacheDir);
  const path = join(cacheDir, spec.id);
  const existing = await readFile(path).catch(() => undefined);
  if (existing) {
    const info = checkPromptWav(existing);
    if (!('error' in info)) return { id: spec.id, path, cached: true, durationMs: durationOf(info) };
    // A damaged cache entry (e.g. written by something else): render it again over it.
  }
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, '.render-'));
  const fail = (code: string, message: string, options: { hint?: string; cause?: unknown } = {}) =>
    new PromptRenderError(code, spec.id, describeSource(spec), message, options);
  const tool = async (name: string, cmd: string, args: string[], input?: string) => {
    let result;
    try {
      result = await run(cmd, args, input, opts.timeoutMs ?? 60_000);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw fail('PROMPT_TOOL_MISSING', `${name} is not installed (${cmd} not found)`, { hint: 'Install it: apt-get install espeak-ng sox', cause: e });
      }
      throw fail('PROMPT_RENDER_FAILED', `${name} could not be started: ${(e as Error).message}`, { cause: e });
    }
    if (result.code !== 0) {
      const hint = name === 'espeak-ng' && /voice/i.test(result.stderr)
        ? 'Set voice: to a voice espeak-ng has (list them with `espeak-ng --voices`), e.g. en-us.'
        : name === 'sox' && 'file' in spec.source
          ? `Check that ${spec.source.file} is an audio file sox reads, e.g. \`sox ${spec.source.file} -r 8000 -c 1 -b 16 out.wav\`.`
          : `Run ${name} by hand to see why; is it installed completely?`;
      throw fail('PROMPT_RENDER_FAILED', `${name} ${result.code === null ? 'was killed (timeout?)' : `exited with ${result.code}`}${result.stderr ? `: ${result.stderr}` : ''}`, { hint });
    }
  };
  try {
    let input: string;
    if ('text' in spec.source) {
      input = join(work, 'tts.wav');
      // Text on stdin, not argv: a prompt starting with '-' must not read as an option.
      await tool('espeak-ng', opts.espeakNg ?? 'espeak-ng', ['-v', spec.source.voice, '-w', input, '--stdin'], spec.source.text);
    } else if ('tone' in spec.source) {
      // A sine at half scale (-6 dBFS), with 10 ms fades so it starts and stops without a click.
      input = join(work, 'tone.wav');
      const { frequencyHz, durationMs } = spec.source.tone;
      await tool('sox', opts.sox ?? 'sox', ['-q', '-n', '-r', String(PROMPT_FORMAT.sampleRate), '-c', '1', '-b', '16', input, 'synth', String(durationMs / 1000), 'sine', String(frequencyHz), 'vol', '0.5', 'fade', '0.01', String(durationMs / 1000), '0.01']);
    } else {
      input = await checkedRepoFile(spec.source.file, spec.source.sha256, opts.repoDir, fail);
    }
    const out = join(work, 'out.wav');
    await tool('sox', opts.sox ?? 'sox', ['-q', input, '-t', 'wav', '-r', String(PROMPT_FORMAT.sampleRate), '-c', '1', '-b', '16', '-e', 'signed-integer', out]);
    const info = checkPromptWav(await readFile(out));
    if ('error' in info) throw fail('PROMPT_OUTPUT_INVALID', `sox wrote an unusable WAV: ${info.error}`, { hint: 'Check the sox installation (`sox --version`).' });
    // Rename within the cache directory: atomic on one filesystem. A unique temp name per render,
    // because two applies may render the same id at once (the later rename wins; both are equal).
    const temp = join(cacheDir, `.${spec.id}.${randomBytes(6).toString('hex')}.tmp`);
    await rename(out, temp);
    await rename(temp, path);
    return { id: spec.id, path, cached: false, durationMs: durationOf(info) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Resolves a repo file of a file prompt, checking it stays in the repo and still has the spec's digest. */
async function checkedRepoFile(
  file: string,
  sha256: string,
  repoDir: string,
  fail: (code: string, message: string, options?: { hint?: string; cause?: unknown }) => PromptRenderError,
): Promise<string> {
  const root = resolve(repoDir);
  const path = resolve(root, file);
  const rel = relative(root, path);
  if (rel.startsWith('..') || isAbsolute(rel)) throw fail('PROMPT_FILE_MISSING', `${file} is outside the repo ${root}`, { hint: 'Prompt files are relative to the repo root, e.g. prompts/welcome.wav.' });
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw fail('PROMPT_FILE_MISSING', `cannot read ${path}: ${(e as Error).message}`, { hint: `Commit ${file} to the repo, or use text: to synthesize the prompt.`, cause: e });
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw fail('PROMPT_FILE_CHANGED', `${file} changed since the release was compiled (sha256 ${actual.slice(0, 12)}..., expected ${sha256.slice(0, 12)}...)`, {
      hint: 'Run pbxctl plan/apply again so the release is compiled from the files as they are now.',
    });
  }
  return path;
}

/**
 * Renders every prompt (each id once), a few at a time; results in the order of first appearance.
 * @param opts.concurrency tool runs at once (default: the CPU count)
 * @throws PromptRenderError: the first failure (renders already running still finish)
 */
export async function renderPrompts(specs: readonly PromptSpec[], opts: PromptRenderOptions & { concurrency?: number }): Promise<RenderedPrompt[]> {
  const unique = [...new Map(specs.map((s) => [s.id, s])).values()];
  const results: RenderedPrompt[] = new Array(unique.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const i = next++;
      try {
        results[i] = await renderPrompt(unique[i]!, opts);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? availableParallelism(), unique.length)) }, worker));
  if (errors.length) throw errors[0];
  return results;
}
