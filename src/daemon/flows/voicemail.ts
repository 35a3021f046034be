/**
 * Voicemail call flows (issue 5): leaving a message (a `voicemail:NNNN` destination, usually an
 * extension's busy / no-answer / unavailable / do-not-disturb forward) and listening to a box by
 * phone (feature codes `voicemail`, e.g. `*97`, for the caller's own box, and `voicemailAny`,
 * `*98`, which asks for the box).
 *
 * Deposit: answer, greeting (the owner's recording of that kind, else the repo's PBX-wide greeting
 * for "unavailable", else "The person at extension 1 0 0 1 is not available / is on the phone"),
 * beep, record until hang-up, `#`, `maxSilence` seconds of quiet or `maxMessageLength`; shorter
 * than `minMessageLength` is discarded; a full box (`maxMessages`) hears so and is hung up.
 *
 * Retrieval: PIN (scrypt hash from the release's secrets document) with `pinAttempts` tries, then
 * goodbye, hang-up, a `voicemail.pin-failed` step and a warning. Then "You have N new messages and
 * M old messages" and the main menu: 1 messages, 0 mailbox options (1 unavailable greeting, 2 busy
 * greeting, * back), * exit. Per message (new ones first, oldest first): "Message from <digits>",
 * the message, then 1 replay, 7 delete, 9 save, # or 6 next, * previous (or back at the first).
 * A message played (or skipped by a command) moves from new to old.
 */
import { existsSync } from 'node:fs';
import type { FeatureExtension } from '../config-types.js';
import type { Resolution } from '../destination-resolver.js';
import { verifyPinAsync } from '../secrets-types.js';
import { gather } from '../tasks.js';
import type { VoicemailLog, VoicemailMessage, VoicemailStore } from '../voicemail/store.js';
import { answerCall, promptFile, type FlowContext } from './context.js';

/** What the voicemail flows need besides the call: the store, the PIN hashes of the call's release and a log. */
export interface VoicemailRuntime {
  store: VoicemailStore;
  /** Mailbox -> scrypt hash (secrets-types.ts), from the release the call started on. */
  pins: Record<string, string>;
  log?: VoicemailLog;
}

/** Seconds to wait for a menu digit after its prompt. */
const MENU_TIMEOUT_S = 6;
/** Seconds to wait for the first / next digit of a PIN or mailbox number. */
const ENTRY_TIMEOUT_S = 8;
const INTER_DIGIT_S = 4;
/** Longest owner greeting, ms. */
const MAX_GREETING_MS = 60_000;

/** Why the call reached voicemail, as told by the extension flow that forwarded it. */
const forwardReasons = new WeakMap<FlowContext, 'busy' | 'no-answer' | 'failed'>();

/** Notes why an extension forwarded the call (call-flow.ts), so the box plays its busy or unavailable greeting. */
export function noteForward(ctx: FlowContext, on: 'busy' | 'no-answer' | 'failed'): void {
  forwardReasons.set(ctx, on);
}

/** Prompt ids that speak a number digit by digit ("one two"), from the system digit prompts. */
export function numberPrompts(ctx: FlowContext, value: number | string): string[] {
  const p = ctx.config.systemPrompts;
  const digits: Record<string, string> = { 0: p.digit0, 1: p.digit1, 2: p.digit2, 3: p.digit3, 4: p.digit4, 5: p.digit5, 6: p.digit6, 7: p.digit7, 8: p.digit8, 9: p.digit9 };
  return [...String(value)].flatMap((d) => (digits[d] ? [promptFile(ctx, digits[d])] : []));
}

/** Plays files one after the other (no barge-in); rejects when the call is aborted. */
async function playAll(ctx: FlowContext, files: string[]): Promise<void> {
  for (const f of files) await ctx.channel.play(f, ctx.signal);
}

/** Plays prompts with barge-in and waits for one digit; undefined on timeout. */
async function menu(ctx: FlowContext, files: string[], timeoutS = MENU_TIMEOUT_S): Promise<string | undefined> {
  const r = await gather(ctx.channel, ctx.digits, { prompts: files, maxDigits: 1, firstDigitTimeoutMs: timeoutS * 1000, interDigitTimeoutMs: timeoutS * 1000 }, ctx.signal);
  return r.digits === '' ? undefined : r.digits;
}

/** Which greeting a deposit plays: the forward reason, or do-not-disturb on the way. */
export function greetingKind(ctx: FlowContext, resolution: Resolution): 'busy' | 'unavailable' {
  if (resolution.hops.some((h) => h.type === 'do-not-disturb')) return 'busy';
  return forwardReasons.get(ctx) === 'busy' ? 'busy' : 'unavailable';
}

/**
 * Leaves a message in `ext`'s box. Resolves with undefined (the call is over: hung up by the
 * caller, or to be hung up by the caller of this function); rejects only when the call is aborted
 * before the recording started.
 */
export async function runVoicemailDeposit(ctx: FlowContext, ext: FeatureExtension, kind: 'busy' | 'unavailable'): Promise<undefined> {
  const vm = ctx.voicemail;
  const mailbox = ext.number;
  const p = ctx.config.systemPrompts;
  const limits = ctx.config.voicemail;
  if (!vm) throw new Error('voicemail runtime missing from the flow context');
  await answerCall(ctx);
  ctx.step('voicemail', { mailbox, greeting: kind });
  if (vm.store.total(mailbox) >= limits.maxMessages) {
    ctx.step('voicemail.full', { mailbox, maxMessages: limits.maxMessages });
    await playAll(ctx, [promptFile(ctx, p.vmMailboxFull), promptFile(ctx, p.goodbye)]);
    return undefined;
  }
  const own = vm.store.greetingFile(mailbox, kind);
  const greeting = own
    ? [own]
    : kind === 'unavailable' && limits.greeting !== p.voicemailGreeting
      ? [promptFile(ctx, limits.greeting)]
      : [promptFile(ctx, p.vmPersonAt), ...numberPrompts(ctx, mailbox), promptFile(ctx, kind === 'busy' ? p.vmBusy : p.vmUnavailable)];
  // `#` during the greeting skips to the beep.
  await gather(ctx.channel, ctx.digits, { prompts: greeting, maxDigits: 1, firstDigitTimeoutMs: 0, interDigitTimeoutMs: 0 }, ctx.signal);
  ctx.digits.clear();
  await ctx.channel.play(promptFile(ctx, p.vmBeep), ctx.signal);
  const receivedAt = ctx.now().getTime();
  const rec = await ctx.channel.record({ maxDurationMs: limits.maxMessageLength * 1000, maxSilenceMs: limits.maxSilence * 1000, stopDigits: '#' }, ctx.signal);
  ctx.digits.clear();
  if (rec.durationMs < limits.minMessageLength * 1000) {
    ctx.step('voicemail.discarded', { mailbox, durationMs: rec.durationMs, endedBy: rec.endedBy });
  } else {
    const m = vm.store.deposit({ mailbox, caller: ctx.channel.caller, samples: rec.samples, receivedAt });
    ctx.step('voicemail.recorded', { mailbox, messageId: m.id, durationMs: m.durationMs, endedBy: rec.endedBy });
  }
  if (!ctx.signal.aborted) await playAll(ctx, [promptFile(ctx, p.goodbye)]);
  return undefined;
}

/**
 * Listening by phone (feature codes `voicemail` / `voicemailAny`). Resolves with undefined when
 * the caller is done (or failed the PIN check); rejects when the call is aborted.
 */
export async function runVoicemailRetrieval(ctx: FlowContext, feature: 'voicemail' | 'voicemailAny'): Promise<undefined> {
  const vm = ctx.voicemail;
  if (!vm) throw new Error('voicemail runtime missing from the flow context');
  const p = ctx.config.systemPrompts;
  await answerCall(ctx);
  let mailbox = feature === 'voicemail' ? ctx.channel.caller.number : undefined;
  ctx.step('voicemail.login', { feature, ...(mailbox !== undefined ? { mailbox } : {}) });
  let ok = false;
  const attempts = Math.max(1, ctx.config.voicemail.pinAttempts);
  for (let i = 0; i < attempts && !ok; i++) {
    if (feature === 'voicemailAny' && (mailbox === undefined || i > 0)) {
      const r = await gather(ctx.channel, ctx.digits, { prompts: [promptFile(ctx, p.vmEnterMailbox)], maxDigits: 16, firstDigitTimeoutMs: ENTRY_TIMEOUT_S * 1000, interDigitTimeoutMs: INTER_DIGIT_S * 1000, terminator: '#' }, ctx.signal);
      mailbox = r.digits;
    }
    const r = await gather(ctx.channel, ctx.digits, { prompts: [promptFile(ctx, p.vmEnterPin)], maxDigits: 16, firstDigitTimeoutMs: ENTRY_TIMEOUT_S * 1000, interDigitTimeoutMs: INTER_DIGIT_S * 1000, terminator: '#' }, ctx.signal);
    ok = await pinMatches(ctx, vm, mailbox ?? '', r.digits);
    if (!ok) {
      ctx.step('voicemail.pin-wrong', { mailbox: mailbox ?? '', attempt: i + 1 });
      ctx.digits.clear();
      await playAll(ctx, [promptFile(ctx, p.vmWrongPin)]);
    }
  }
  if (!ok || mailbox === undefined) {
    ctx.step('voicemail.pin-failed', { mailbox: mailbox ?? '', attempts });
    vm.log?.warn('voicemail: PIN check failed, call hung up', { callId: ctx.channel.callId, caller: ctx.channel.caller.number, mailbox: mailbox ?? '', attempts });
    await playAll(ctx, [promptFile(ctx, p.goodbye)]);
    return undefined;
  }
  ctx.step('voicemail.authenticated', { mailbox });
  await mainMenu(ctx, vm, mailbox);
  if (!ctx.signal.aborted) await playAll(ctx, [promptFile(ctx, p.goodbye)]);
  return undefined;
}

/** Whether `pin` opens `mailbox`: an existing box with voicemail, a PIN hash in the release, and a match. */
async function pinMatches(ctx: FlowContext, vm: VoicemailRuntime, mailbox: string, pin: string): Promise<boolean> {
  const ext = Object.hasOwn(ctx.config.extensions, mailbox) ? ctx.config.extensions[mailbox] : undefined;
  const hash = Object.hasOwn(vm.pins, mailbox) ? vm.pins[mailbox] : undefined;
  if (!ext?.voicemail || hash === undefined || pin === '') return false;
  // scrypt off the event loop (a check takes tens of ms or more); the call may hang up meanwhile.
  const ok = await verifyPinAsync(hash, pin);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return ok;
}

/** The count announcement and the main menu, until the caller exits (or stops answering). */
async function mainMenu(ctx: FlowContext, vm: VoicemailRuntime, mailbox: string): Promise<void> {
  const p = ctx.config.systemPrompts;
  const c = vm.store.counts(mailbox);
  let prompts = [promptFile(ctx, p.vmYouHave), ...numberPrompts(ctx, c.newCount), promptFile(ctx, p.vmNewMessages), ...numberPrompts(ctx, c.oldCount), promptFile(ctx, p.vmOldMessages), promptFile(ctx, p.vmMainMenu)];
  for (let idle = 0; idle < 3; ) {
    const d = await menu(ctx, prompts);
    prompts = [promptFile(ctx, p.vmMainMenu)];
    if (d === undefined) {
      idle++;
      continue;
    }
    idle = 0;
    if (d === '1') await browse(ctx, vm, mailbox);
    else if (d === '0') await options(ctx, vm, mailbox);
    else if (d === '*') return;
    else prompts = [promptFile(ctx, p.invalid), promptFile(ctx, p.vmMainMenu)];
  }
}

/** What a digit in the message menu does (pure; unit-tested). */
export function messageAction(digit: string | undefined): 'replay' | 'delete' | 'save' | 'next' | 'previous' | 'repeat-menu' {
  switch (digit) {
    case '1': return 'replay';
    case '7': return 'delete';
    case '9': return 'save';
    case '#':
    case '6': return 'next';
    case '*': return 'previous';
    default: return 'repeat-menu';
  }
}

/** Plays the messages one by one with the message menu. */
async function browse(ctx: FlowContext, vm: VoicemailRuntime, mailbox: string): Promise<void> {
  const p = ctx.config.systemPrompts;
  const messages: VoicemailMessage[] = vm.store.list(mailbox, { order: 'play' });
  let i = 0;
  let withMessage = true;
  for (let idle = 0; idle < 3; ) {
    const m = messages[i];
    if (m && !existsSync(m.file)) {
      // Deleted meanwhile (API, retention, another call of the owner): skip it.
      messages.splice(i, 1);
      continue;
    }
    if (!m) {
      await playAll(ctx, [promptFile(ctx, p.vmNoMoreMessages)]);
      return;
    }
    const envelope = /^\+?[0-9]{1,15}$/.test(m.caller.number) ? [promptFile(ctx, p.vmMessageFrom), ...numberPrompts(ctx, m.caller.number.replace('+', ''))] : [];
    // The message (a digit during it acts at once), marked heard, then the menu if no digit yet.
    let d = withMessage ? await menu(ctx, [...envelope, m.file], 0) : undefined;
    if (withMessage && m.folder === 'new') {
      vm.store.setFolder(mailbox, m.id, 'old');
      m.folder = 'old';
      ctx.step('voicemail.listened', { mailbox, messageId: m.id });
    }
    d ??= await menu(ctx, [promptFile(ctx, p.vmMessageMenu)]);
    const action = messageAction(d);
    withMessage = action !== 'repeat-menu';
    idle = d === undefined ? idle + 1 : 0;
    switch (action) {
      case 'replay':
        break;
      case 'delete':
        vm.store.delete(mailbox, m.id);
        messages.splice(i, 1);
        ctx.step('voicemail.deleted', { mailbox, messageId: m.id });
        await playAll(ctx, [promptFile(ctx, p.vmDeleted)]);
        break;
      case 'save':
        vm.store.setFolder(mailbox, m.id, 'saved');
        m.folder = 'saved';
        await playAll(ctx, [promptFile(ctx, p.vmSaved)]);
        i++;
        break;
      case 'next':
        i++;
        break;
      case 'previous':
        if (i === 0) return;
        i--;
        break;
      case 'repeat-menu':
        break;
    }
  }
}

/** Mailbox options: record the unavailable (1) or busy (2) greeting, * back. */
async function options(ctx: FlowContext, vm: VoicemailRuntime, mailbox: string): Promise<void> {
  const p = ctx.config.systemPrompts;
  for (let idle = 0; idle < 3; ) {
    const d = await menu(ctx, [promptFile(ctx, p.vmOptionsMenu)]);
    if (d === undefined) {
      idle++;
      continue;
    }
    idle = 0;
    if (d === '*') return;
    if (d !== '1' && d !== '2') {
      await playAll(ctx, [promptFile(ctx, p.invalid)]);
      continue;
    }
    const kind = d === '1' ? 'unavailable' : 'busy';
    await playAll(ctx, [promptFile(ctx, p.vmRecordGreeting), promptFile(ctx, p.vmBeep)]);
    ctx.digits.clear();
    const rec = await ctx.channel.record({ maxDurationMs: MAX_GREETING_MS, maxSilenceMs: ctx.config.voicemail.maxSilence * 1000, stopDigits: '#' }, ctx.signal);
    ctx.digits.clear();
    if (rec.durationMs < 1000) {
      await playAll(ctx, [promptFile(ctx, p.invalid)]);
      continue;
    }
    vm.store.saveGreeting(mailbox, kind, rec.samples);
    ctx.step('voicemail.greeting', { mailbox, kind, durationMs: rec.durationMs });
    if (ctx.signal.aborted) return;
    await playAll(ctx, [promptFile(ctx, p.vmGreetingSaved)]);
  }
}
