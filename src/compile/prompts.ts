/**
 * The prompts a release needs, as content-addressed specs: the id (the WAV file name under the
 * release's `prompts/`, what the feature config references and RTPengine's `play media` plays) is a
 * hash of what the audio is made from, so an unchanged prompt keeps its id across applies and the
 * renderer's cache (media/prompt-render.ts) never synthesizes it twice. Pure: file contents reach
 * this module only as sha256 digests the caller computed.
 */
import { createHash } from 'node:crypto';
import { audioFields } from '../model/references.js';
import type { DesiredState, Prompt } from '../model/types.js';
import type { FeatureConfig, SystemPrompts } from '../daemon/config-types.js';

/**
 * Bumped when the rendering pipeline changes what a prompt sounds like (sample rate, tools, flags),
 * so every id changes and caches re-render.
 */
export const PROMPT_RENDER_VERSION = 1;

/** The synthesis voice of text prompts that set none (defs.schema.json prompt.voice default). */
export const DEFAULT_VOICE = 'en-us';

/** Where a prompt's audio comes from: text to synthesize, or a WAV file in the repo. */
export type PromptSource =
  | { text: string; voice: string }
  /** `file` is repo-relative (`prompts/welcome.wav`); `sha256` is the hex digest of its bytes. */
  | { file: string; sha256: string }
  /** A sine tone rendered with sox (the voicemail beep): frequency in Hz, length in ms. */
  | { tone: { frequencyHz: number; durationMs: number } };

/** One prompt of a release: `id` is its file name (`tts-<16 hex>.wav` or `file-<16 hex>.wav`). */
export interface PromptSpec {
  id: string;
  source: PromptSource;
}

/** Repo-relative path -> sha256 hex of the file's bytes, for every audio file {@link promptFiles} lists. */
export type FileHashes = Readonly<Record<string, string>>;

/**
 * The built-in prompts (English, DEFAULT_VOICE) the daemon plays where the repo has none: after an
 * invalid IVR digit, when no digit came, before hanging up, and as the default voicemail greeting;
 * spoken digits for numbers, queue announcements and agent feature-code confirmations.
 */
export const SYSTEM_PROMPTS: Readonly<Record<Exclude<keyof SystemPrompts, keyof typeof SYSTEM_TONES>, string>> = {
  invalid: 'Sorry, that is not a valid option.',
  timeout: 'Sorry, we did not receive your selection.',
  goodbye: 'Goodbye.',
  voicemailGreeting: 'The person you are calling is not available. Please leave a message after the tone.',
  digit0: 'zero',
  digit1: 'one',
  digit2: 'two',
  digit3: 'three',
  digit4: 'four',
  digit5: 'five',
  digit6: 'six',
  digit7: 'seven',
  digit8: 'eight',
  digit9: 'nine',
  queuePosition: 'You are caller number',
  queueHoldTime: 'Your estimated wait time is',
  queueMinutes: 'minutes',
  queueUnderMinute: 'less than one minute',
  agentLoggedIn: 'Agent logged in.',
  agentLoggedOut: 'Agent logged out.',
  agentPaused: 'Agent paused.',
  agentUnpaused: 'Agent available.',
  agentNotMember: 'This extension is not an agent of any queue.',
  vmPersonAt: 'The person at extension',
  vmUnavailable: 'is not available. Please leave a message after the tone. Press pound when you are done.',
  vmBusy: 'is on the phone. Please leave a message after the tone. Press pound when you are done.',
  vmMailboxFull: 'Sorry, this mailbox is full and cannot take messages.',
  vmEnterMailbox: 'Please enter the mailbox number, then press pound.',
  vmEnterPin: 'Please enter your password, then press pound.',
  vmWrongPin: 'That password is not correct.',
  vmYouHave: 'You have',
  vmNewMessages: 'new messages, and',
  vmOldMessages: 'old messages.',
  vmMainMenu: 'Press 1 to listen to your messages. Press 0 for mailbox options. Press star to exit.',
  vmMessageFrom: 'Message from',
  vmMessageMenu: 'Press 1 to replay, 7 to delete, 9 to save, pound for the next message, or star for the previous message.',
  vmNoMoreMessages: 'There are no more messages.',
  vmDeleted: 'Message deleted.',
  vmSaved: 'Message saved.',
  vmOptionsMenu: 'Press 1 to record your unavailable greeting. Press 2 to record your busy greeting. Press star to go back.',
  vmRecordGreeting: 'Record your greeting after the tone, then press pound.',
  vmGreetingSaved: 'Your greeting has been saved.',
};

/** Built-in tones (not speech): the beep before a voicemail recording, 1 kHz for half a second. */
export const SYSTEM_TONES: Readonly<Record<'vmBeep', { frequencyHz: number; durationMs: number }>> = {
  vmBeep: { frequencyHz: 1000, durationMs: 500 },
};

/** Every built-in prompt name: the speech ones and the tones. */
export const SYSTEM_PROMPT_NAMES: readonly (keyof SystemPrompts)[] = [...(Object.keys(SYSTEM_PROMPTS) as (keyof SystemPrompts)[]), ...(Object.keys(SYSTEM_TONES) as (keyof SystemPrompts)[])];

const hash16 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * Text as synthesized: whitespace runs become one space, so re-wrapping a YAML block (`>-`) neither
 * changes the id nor the audio.
 */
export function normalizePromptText(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}

/** The content-addressed id of a source: `tts-`/`file-` + 16 hex of sha256 over render version and content. */
export function promptId(source: PromptSource): string {
  if ('text' in source) return `tts-${hash16(`pbxctl-prompt-v${PROMPT_RENDER_VERSION}\0tts\0${source.voice}\0${source.text}`)}.wav`;
  if ('tone' in source) return `tone-${hash16(`pbxctl-prompt-v${PROMPT_RENDER_VERSION}\0tone\0${source.tone.frequencyHz}\0${source.tone.durationMs}`)}.wav`;
  return `file-${hash16(`pbxctl-prompt-v${PROMPT_RENDER_VERSION}\0file\0${source.sha256}`)}.wav`;
}

/**
 * The spec of a repo prompt (`{file}` or `{text, voice?}`).
 * @throws Error when a file prompt's digest is missing from `hashes`: the caller must hash every
 *   file {@link promptFiles} lists (a bug, not user input: validation already found the file)
 */
export function promptSpec(prompt: Prompt, hashes: FileHashes): PromptSpec {
  let source: PromptSource;
  if (prompt.file !== undefined) {
    const sha256 = hashes[prompt.file];
    if (sha256 === undefined) throw new Error(`no sha256 given for prompt file ${prompt.file}; hash every file promptFiles() lists`);
    source = { file: prompt.file, sha256 };
  } else if (prompt.text !== undefined) {
    source = { text: normalizePromptText(prompt.text), voice: prompt.voice ?? DEFAULT_VOICE };
  } else {
    throw new Error('prompt has neither file nor text (the schema requires one)');
  }
  return { id: promptId(source), source };
}

/** The spec of a built-in prompt. */
export function systemPromptSpec(name: keyof SystemPrompts): PromptSpec {
  const source: PromptSource = name in SYSTEM_TONES ? { tone: { ...SYSTEM_TONES[name as keyof typeof SYSTEM_TONES] } } : { text: SYSTEM_PROMPTS[name as keyof typeof SYSTEM_PROMPTS], voice: DEFAULT_VOICE };
  return { id: promptId(source), source };
}

/** Every audio file of the repo a release plays (IVR, queue and voicemail prompts, music on hold), sorted and unique. */
export function promptFiles(state: DesiredState): string[] {
  const files = new Set<string>();
  const all = [...state.ivrs.values(), ...state.queues.values(), ...state.musicOnHold.values(), ...(state.voicemailSettings ? [state.voicemailSettings] : [])];
  for (const r of all) for (const f of audioFields(r)) files.add(f.file);
  return [...files].sort();
}

/** Every prompt id a feature config references, with where (for error messages). */
export function referencedPrompts(config: FeatureConfig): Map<string, string> {
  const out = new Map<string, string>();
  const add = (id: string | undefined, where: string) => {
    if (id !== undefined && !out.has(id)) out.set(id, where);
  };
  for (const [k, id] of Object.entries(config.systemPrompts)) add(id, `systemPrompts.${k}`);
  for (const [id, m] of Object.entries(config.ivrs)) {
    add(m.greeting, `ivrs.${id}.greeting`);
    add(m.invalidPrompt, `ivrs.${id}.invalidPrompt`);
    add(m.timeoutPrompt, `ivrs.${id}.timeoutPrompt`);
  }
  for (const [id, q] of Object.entries(config.queues)) add(q.announcements.join, `queues.${id}.announcements.join`);
  add(config.voicemail.greeting, 'voicemail.greeting');
  for (const [id, m] of Object.entries(config.musicOnHold)) m.files.forEach((f, i) => add(f, `musicOnHold.${id}.files[${i}]`));
  return out;
}

/**
 * The prompts a release needs: every id `config` references (compiled from `state` with the same
 * `hashes`), sorted by id, each once.
 * @throws Error when the config references an id this state cannot produce (config and state differ: a bug)
 */
export function releasePrompts(state: DesiredState, config: FeatureConfig, hashes: FileHashes): PromptSpec[] {
  const known = new Map<string, PromptSpec>();
  const add = (s: PromptSpec) => known.set(s.id, s);
  for (const name of SYSTEM_PROMPT_NAMES) add(systemPromptSpec(name));
  for (const m of state.ivrs.values()) for (const p of [m.greeting, m.invalidPrompt, m.timeoutPrompt]) if (p) add(promptSpec(p, hashes));
  for (const q of state.queues.values()) if (q.announcements?.join) add(promptSpec(q.announcements.join, hashes));
  if (state.voicemailSettings?.greeting) add(promptSpec(state.voicemailSettings.greeting, hashes));
  for (const m of state.musicOnHold.values()) for (const file of m.files) add(promptSpec({ file }, hashes));
  const out: PromptSpec[] = [];
  for (const [id, where] of referencedPrompts(config)) {
    const spec = known.get(id);
    if (!spec) throw new Error(`${where} references prompt ${id}, which this desired state does not produce`);
    out.push(spec);
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
