/**
 * Prompt rendering with the real espeak-ng and sox (media/prompt-render.ts). Skipped, saying so,
 * only when the binaries are missing (apt-get install espeak-ng sox).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { promptFiles, promptId, promptSpec, releasePrompts, type PromptSpec } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { checkPromptWav, PromptRenderError, renderPrompt, renderPrompts } from '../../src/media/prompt-render.js';

const SMALL_OFFICE = fileURLToPath(new URL('../../examples/small-office/', import.meta.url));
const hasTool = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error === undefined;
const missing = ['espeak-ng', 'sox'].filter((t) => !hasTool(t));
if (missing.length) console.warn(`test/media/prompt-render.test.ts skipped: ${missing.join(' and ')} not installed (apt-get install espeak-ng sox)`);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const text = (t: string, voice = 'en-us'): PromptSpec => promptSpec({ text: t, voice }, {});

async function failure(p: Promise<unknown>): Promise<PromptRenderError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PromptRenderError);
    return e as PromptRenderError;
  }
  throw new Error('expected a PromptRenderError');
}

describe.skipIf(missing.length > 0)('renderPrompt (espeak-ng + sox)', () => {
  let work: string;
  let repo: string;
  let cacheDir: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pbxctl-prompts-'));
    repo = join(work, 'repo');
    cacheDir = join(work, 'cache');
    mkdirSync(join(repo, 'prompts'), { recursive: true });
    // A 22.05 kHz stereo recording, as someone might commit it.
    const r = spawnSync('sox', ['-n', '-r', '22050', '-c', '2', '-b', '16', join(repo, 'prompts', 'stereo.wav'), 'synth', '0.5', 'sine', '440']);
    expect(r.status).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const opts = () => ({ repoDir: repo, cacheDir });

  it('synthesizes text to an 8 kHz mono 16-bit PCM WAV, then serves it from the cache', async () => {
    const spec = text('Sorry, that is not a valid option.');
    const first = await renderPrompt(spec, opts());
    expect(first).toMatchObject({ id: spec.id, path: join(cacheDir, spec.id), cached: false });
    const info = checkPromptWav(readFileSync(first.path));
    expect(info).toMatchObject({ format: 1, sampleRate: 8000, channels: 1, bitsPerSample: 16 });
    expect(first.durationMs).toBeGreaterThan(500);
    expect(first.durationMs).toBeLessThan(10_000);
    const mtime = statSync(first.path).mtimeMs;
    const again = await renderPrompt(spec, opts());
    expect(again).toEqual({ ...first, cached: true });
    expect(statSync(first.path).mtimeMs).toBe(mtime);
    expect(readdirSync(cacheDir).filter((f) => f.startsWith('.'))).toEqual([]); // no temp files left
  });

  it('reads text from stdin, so a prompt starting with a dash is spoken, not an option', async () => {
    const r = await renderPrompt(text('-v is not a flag here.'), opts());
    expect(r.durationMs).toBeGreaterThan(300);
  });

  it('converts a repo file (any rate, stereo) to the prompt format', async () => {
    const bytes = readFileSync(join(repo, 'prompts', 'stereo.wav'));
    const spec = promptSpec({ file: 'prompts/stereo.wav' }, { 'prompts/stereo.wav': sha256(bytes) });
    const r = await renderPrompt(spec, opts());
    expect(checkPromptWav(readFileSync(r.path))).toMatchObject({ sampleRate: 8000, channels: 1, bitsPerSample: 16, dataBytes: 8000 }); // 0.5 s
    expect(r.durationMs).toBe(500);
  });

  it('re-renders a damaged cache entry', async () => {
    const spec = text('Goodbye.');
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, spec.id), 'not a wav');
    const r = await renderPrompt(spec, opts());
    expect(r.cached).toBe(false);
    expect('error' in checkPromptWav(readFileSync(r.path))).toBe(false);
  });

  it('refuses a file whose content changed since the spec was made', async () => {
    const spec = promptSpec({ file: 'prompts/stereo.wav' }, { 'prompts/stereo.wav': '0'.repeat(64) });
    const e = await failure(renderPrompt(spec, opts()));
    expect(e.code).toBe('PROMPT_FILE_CHANGED');
    expect(e.promptId).toBe(spec.id);
    expect(e.message).toContain('prompts/stereo.wav');
    expect(e.hint).toMatch(/plan\/apply again/);
  });

  it('names a missing file and a path outside the repo', async () => {
    const gone = await failure(renderPrompt(promptSpec({ file: 'prompts/gone.wav' }, { 'prompts/gone.wav': '0'.repeat(64) }), opts()));
    expect(gone.code).toBe('PROMPT_FILE_MISSING');
    expect(gone.message).toContain('prompts/gone.wav');
    const outside: PromptSpec = { id: promptId({ file: '../x.wav', sha256: '0'.repeat(64) }), source: { file: '../x.wav', sha256: '0'.repeat(64) } };
    expect((await failure(renderPrompt(outside, opts()))).message).toMatch(/outside the repo/);
  });

  it('explains a voice espeak-ng does not have', async () => {
    const e = await failure(renderPrompt(text('Hello', 'xx-nonexistent'), opts()));
    expect(e.code).toBe('PROMPT_RENDER_FAILED');
    expect(e.message).toMatch(/espeak-ng exited with 1.*voice does not exist/);
    expect(e.hint).toMatch(/espeak-ng --voices/);
  });

  it('says how to install a missing tool', async () => {
    const e = await failure(renderPrompt(text('Missing tool test.'), { ...opts(), espeakNg: '/nonexistent/espeak-ng' }));
    expect(e.code).toBe('PROMPT_TOOL_MISSING');
    expect(e.message).toMatch(/espeak-ng is not installed/);
    expect(e.hint).toBe('Install it: apt-get install espeak-ng sox');
    const s = await failure(renderPrompt(text('Missing sox test.'), { ...opts(), sox: '/nonexistent/sox' }));
    expect(s.message).toMatch(/sox is not installed/);
  });

  it('names a file sox cannot read', async () => {
    writeFileSync(join(repo, 'prompts', 'junk.wav'), 'RIFF but not really');
    const bytes = readFileSync(join(repo, 'prompts', 'junk.wav'));
    const e = await failure(renderPrompt(promptSpec({ file: 'prompts/junk.wav' }, { 'prompts/junk.wav': sha256(bytes) }), opts()));
    expect(e.code).toBe('PROMPT_RENDER_FAILED');
    expect(e.message).toMatch(/sox exited with/);
    expect(e.hint).toContain('prompts/junk.wav');
  });

  it('refuses ids that are not plain file names (a bug)', async () => {
    await expect(renderPrompt({ id: '../evil.wav', source: { text: 'x', voice: 'en-us' } }, opts())).rejects.toThrow(/not a plain WAV file name/);
  });

  it('renders every prompt of the small-office release, each once', async () => {
    const dir = join(work, 'office');
    const r = await validateRepoDir(SMALL_OFFICE, { strict: false, secretsFile: join(SMALL_OFFICE, '.secrets.example.yaml') });
    const state = r.state!;
    for (const f of promptFiles(state)) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      copyFileSync(join(SMALL_OFFICE, f), join(dir, f));
    }
    const hashes = Object.fromEntries(promptFiles(state).map((f) => [f, sha256(readFileSync(join(dir, f)))]));
    const specs = releasePrompts(state, compileFeatureConfig(state, { fileHashes: hashes }), hashes);
    const officeCache = join(work, 'office-cache');
    const rendered = await renderPrompts([...specs, ...specs], { repoDir: dir, cacheDir: officeCache, concurrency: 3 });
    expect(rendered.map((p) => p.id)).toEqual(specs.map((s) => s.id));
    expect(readdirSync(officeCache).sort()).toEqual(specs.map((s) => s.id).sort());
    for (const p of rendered) expect(checkPromptWav(readFileSync(p.path))).toMatchObject({ sampleRate: 8000, channels: 1 });
    const again = await renderPrompts(specs, { repoDir: dir, cacheDir: officeCache });
    expect(again.every((p) => p.cached)).toBe(true);
  });
});

describe('checkPromptWav', () => {
  const wav = (rate: number, channels: number, bits: number, data = 4) => {
    const b = Buffer.alloc(44 + data);
    b.write('RIFF', 0); b.writeUInt32LE(36 + data, 4); b.write('WAVE', 8);
    b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(channels, 22);
    b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * channels * (bits / 8), 28); b.writeUInt16LE(channels * (bits / 8), 32); b.writeUInt16LE(bits, 34);
    b.write('data', 36); b.writeUInt32LE(data, 40);
    return b;
  };
  it('accepts only 8 kHz mono 16-bit PCM with samples', () => {
    expect(checkPromptWav(wav(8000, 1, 16))).toEqual({ format: 1, sampleRate: 8000, channels: 1, bitsPerSample: 16, dataBytes: 4 });
    expect(checkPromptWav(wav(22050, 1, 16))).toEqual({ error: expect.stringMatching(/22050 Hz.*expected PCM 8000 Hz mono 16-bit/) });
    expect(checkPromptWav(wav(8000, 2, 16))).toHaveProperty('error');
    expect(checkPromptWav(wav(8000, 1, 8))).toHaveProperty('error');
    expect(checkPromptWav(wav(8000, 1, 16, 0))).toEqual({ error: 'no audio samples' });
    expect(checkPromptWav(Buffer.from('nope'))).toEqual({ error: 'not a RIFF/WAVE file' });
  });
});
