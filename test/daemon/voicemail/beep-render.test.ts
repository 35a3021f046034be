/** The voicemail beep is rendered at apply time by sox (a tone prompt source), like any prompt. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemPromptSpec } from '../../../src/compile/prompts.js';
import { renderPrompt } from '../../../src/media/prompt-render.js';
import { decodeWav, rmsDbfs } from '../../../src/media/wav.js';

const dir = mkdtempSync(join(tmpdir(), 'vm-beep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('voicemail beep prompt', () => {
  it('renders a 1 kHz, 500 ms tone as an 8 kHz mono 16-bit WAV', async () => {
    const spec = systemPromptSpec('vmBeep');
    const r = await renderPrompt(spec, { repoDir: dir, cacheDir: join(dir, 'cache') });
    expect(r).toMatchObject({ id: spec.id, cached: false, durationMs: 500 });
    const wav = decodeWav(readFileSync(r.path));
    expect(wav).toMatchObject({ sampleRate: 8000, channels: 1, bitsPerSample: 16 });
    let crossings = 0;
    for (let i = 1; i < wav.samples.length; i++) if ((wav.samples[i - 1]! < 0) !== (wav.samples[i]! < 0)) crossings++;
    expect(crossings / 2 / 0.5).toBeGreaterThan(980); // cycles per second
    expect(crossings / 2 / 0.5).toBeLessThan(1020);
    expect(rmsDbfs(wav.samples)).toBeGreaterThan(-12);
    expect((await renderPrompt(spec, { repoDir: dir, cacheDir: join(dir, 'cache') })).cached).toBe(true);
  });
});
