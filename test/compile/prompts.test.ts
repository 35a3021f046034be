/** Content-addressed prompt specs (compile/prompts.ts). */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import {
  DEFAULT_VOICE, normalizePromptText, promptFiles, promptId, promptSpec, referencedPrompts, releasePrompts, SYSTEM_PROMPT_NAMES, SYSTEM_PROMPTS, systemPromptSpec,
} from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import type { DesiredState } from '../../src/model/types.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function example(name: string): Promise<DesiredState> {
  const dir = join(EXAMPLES, name);
  const r = await validateRepoDir(dir, { strict: false, secretsFile: join(dir, '.secrets.example.yaml') });
  return r.state!;
}

/** Fake digests: one per path, distinct. */
const fakeHashes = (files: string[]) => Object.fromEntries(files.map((f, i) => [f, i.toString(16).padStart(64, '0')]));

describe('prompt ids', () => {
  it('are content addresses: same content, same id; any change, another id', () => {
    const a = promptId({ text: 'Hello.', voice: 'en-us' });
    expect(a).toMatch(/^tts-[0-9a-f]{16}\.wav$/);
    expect(promptId({ text: 'Hello.', voice: 'en-us' })).toBe(a);
    expect(promptId({ text: 'Hello!', voice: 'en-us' })).not.toBe(a);
    expect(promptId({ text: 'Hello.', voice: 'en-gb' })).not.toBe(a);
    const f = promptId({ file: 'prompts/a.wav', sha256: 'a'.repeat(64) });
    expect(f).toMatch(/^file-[0-9a-f]{16}\.wav$/);
    // The file's content decides, not its name: a renamed file keeps its id (and its cache entry).
    expect(promptId({ file: 'prompts/renamed.wav', sha256: 'a'.repeat(64) })).toBe(f);
    expect(promptId({ file: 'prompts/a.wav', sha256: 'b'.repeat(64) })).not.toBe(f);
  });

  it('ignore how a text was wrapped in YAML', () => {
    expect(normalizePromptText('  Thank you\n  for calling.\t ')).toBe('Thank you for calling.');
    expect(promptSpec({ text: 'Thank you\nfor   calling.' }, {})).toEqual(promptSpec({ text: 'Thank you for calling.' }, {}));
  });

  it('default the voice to en-us', () => {
    expect(promptSpec({ text: 'Hi' }, {}).source).toEqual({ text: 'Hi', voice: DEFAULT_VOICE });
    expect(promptSpec({ text: 'Hallo', voice: 'de' }, {}).source).toEqual({ text: 'Hallo', voice: 'de' });
  });

  it('need the digest of every file prompt', () => {
    expect(promptSpec({ file: 'p/a.wav' }, { 'p/a.wav': 'c'.repeat(64) })).toEqual({ id: promptId({ file: 'p/a.wav', sha256: 'c'.repeat(64) }), source: { file: 'p/a.wav', sha256: 'c'.repeat(64) } });
    expect(() => promptSpec({ file: 'p/a.wav' }, {})).toThrow(/no sha256 given for prompt file p\/a\.wav/);
  });

  it('give the system prompts fixed texts', () => {
    expect(systemPromptSpec('invalid').source).toEqual({ text: 'Sorry, that is not a valid option.', voice: 'en-us' });
    expect(systemPromptSpec('goodbye').source).toEqual({ text: 'Goodbye.', voice: 'en-us' });
    // The voicemail beep is a tone, rendered by sox: its own id space.
    expect(systemPromptSpec('vmBeep')).toEqual({ id: expect.stringMatching(/^tone-[0-9a-f]{16}\.wav$/), source: { tone: { frequencyHz: 1000, durationMs: 500 } } });
    expect(new Set(Object.keys(SYSTEM_PROMPTS).map((k) => systemPromptSpec(k as keyof typeof SYSTEM_PROMPTS).id)).size).toBe(Object.keys(SYSTEM_PROMPTS).length); // every text distinct
  });
});

describe('promptFiles', () => {
  it('lists the audio files a release plays, sorted, each once', async () => {
    expect(promptFiles(await example('small-office'))).toEqual(['moh/hold-1.wav', 'moh/hold-2.wav', 'prompts/main-greeting.wav']);
    expect(promptFiles(await example('call-center'))).toEqual([
      'moh/hold-1.wav', 'moh/hold-2.wav', 'moh/hold-3.wav', 'prompts/main-menu.wav', 'prompts/support-menu.wav', 'prompts/support-queue-join.wav',
    ]);
  });
});

describe('releasePrompts', () => {
  it('gives every prompt the small-office config references, and nothing else', async () => {
    const state = await example('small-office');
    const hashes = fakeHashes(promptFiles(state));
    const config = compileFeatureConfig(state, { fileHashes: hashes });
    const specs = releasePrompts(state, config, hashes);
    expect(specs.map((s) => s.id)).toEqual([...referencedPrompts(config).keys()].sort());
    expect(specs.map((s) => s.id)).toEqual([...new Set(specs.map((s) => s.id))].sort());
    const sources = specs.map((s) => ('file' in s.source ? s.source.file : 'tone' in s.source ? `tone ${s.source.tone.frequencyHz}` : s.source.text));
    expect(sources).toEqual(expect.arrayContaining([
      'prompts/main-greeting.wav', 'moh/hold-1.wav', 'moh/hold-2.wav',
      'Sorry, that is not a valid choice.', 'We did not hear a choice.', // the main menu's own
      SYSTEM_PROMPTS.invalid, SYSTEM_PROMPTS.timeout, SYSTEM_PROMPTS.goodbye, // the holiday menu has none
      expect.stringMatching(/^Thank you for calling Harborview Supply\. Our office is closed today/),
      expect.stringMatching(/^The person you are trying to reach is not available\./), // voicemail settings greeting
      'tone 1000', // the voicemail beep
    ]));
    expect(specs).toHaveLength(7 + SYSTEM_PROMPT_NAMES.length); // 7 of its own + every system prompt and tone
    for (const s of specs) expect(s.id).toBe(promptId(s.source));
  });

  it('shares one prompt between menus that say the same thing', async () => {
    const state = await example('call-center');
    const hashes = fakeHashes(promptFiles(state));
    const config = compileFeatureConfig(state, { fileHashes: hashes });
    // main and support both say "Sorry, that is not one of the choices."
    expect(config.ivrs.main!.invalidPrompt).toBe(config.ivrs.support!.invalidPrompt);
    const specs = releasePrompts(state, config, hashes);
    expect(specs.filter((s) => 'text' in s.source && s.source.text === 'Sorry, that is not one of the choices.')).toHaveLength(1);
    expect(specs.some((s) => 'file' in s.source && s.source.file === 'prompts/support-queue-join.wav')).toBe(true);
  });

  it('refuses a config compiled from another state (a bug)', async () => {
    const office = await example('small-office');
    const center = await example('call-center');
    const officeHashes = fakeHashes(promptFiles(office));
    const config = compileFeatureConfig(office, { fileHashes: officeHashes });
    expect(() => releasePrompts(center, config, fakeHashes(promptFiles(center)))).toThrow(/references prompt .*which this desired state does not produce/);
  });
});
