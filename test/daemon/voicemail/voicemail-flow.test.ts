/**
 * The voicemail flows with the fake channel and a real store (SQLite in a temp dir): deposit with
 * the greeting choice, beep and recording limits; retrieval with the PIN check, the count
 * announcement and the message menu; the way in from an extension's busy forward (runCallFlow).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SYSTEM_PROMPT_NAMES } from '../../../src/compile/prompts.js';
import { CallStateMachine } from '../../../src/daemon/call-state.js';
import type { FeatureConfig, FeatureExtension, SystemPrompts } from '../../../src/daemon/config-types.js';
import { EventBus, type DaemonEvent } from '../../../src/daemon/events.js';
import { runCallFlow } from '../../../src/daemon/flows/call-flow.js';
import type { FlowContext } from '../../../src/daemon/flows/context.js';
import { messageAction, runVoicemailDeposit, runVoicemailRetrieval } from '../../../src/daemon/flows/voicemail.js';
import { MemoryRingStateStore } from '../../../src/daemon/ring-state-store.js';
import { hashPin } from '../../../src/daemon/secrets-types.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';
import { DigitQueue } from '../../../src/daemon/tasks.js';
import { VoicemailStore } from '../../../src/daemon/voicemail/store.js';
import type { RtpPacket } from '../../../src/media/rtp-endpoint.js';
import { linearToMulaw } from '../../../src/media/wav.js';
import { FakeChannel } from '../fake-channel.js';

const EXT = (number: string, o: Partial<FeatureExtension> = {}): FeatureExtension => ({ number, name: `Ext ${number}`, noAnswerTimeout: 5, doNotDisturb: false, voicemail: true, forward: {}, ...o });
const systemPrompts = Object.fromEntries(SYSTEM_PROMPT_NAMES.map((n) => [n, `${n}.wav`])) as unknown as SystemPrompts;

function config(o: { maxMessages?: number; minMessageLength?: number } = {}): FeatureConfig {
  return {
    formatVersion: 1, version: '0'.repeat(16), pbx: 'test', domain: 'pbx.test',
    defaults: { ringTimeout: 5, timezone: 'UTC', voicemail: true },
    systemPrompts,
    extensions: { '1001': EXT('1001', { forward: { busy: { type: 'voicemail', mailbox: '1001' }, noAnswer: { type: 'voicemail', mailbox: '1001' } } }), '1002': EXT('1002') },
    ringGroups: {}, ivrs: {}, schedules: {}, inbound: {}, queues: {}, conferences: {}, musicOnHold: {},
    dial: { '*97': { type: 'feature', feature: 'voicemail' }, '*98': { type: 'feature', feature: 'voicemailAny' } },
    voicemail: { maxMessageLength: 60, minMessageLength: o.minMessageLength ?? 2, maxMessages: o.maxMessages ?? 100, maxSilence: 3, pinAttempts: 3, retentionDays: 0, greeting: systemPrompts.voicemailGreeting },
  } as FeatureConfig;
}

/** 20 ms PCMU packets of a 1 kHz tone. */
function tonePackets(ms: number): RtpPacket[] {
  return Array.from({ length: ms / 20 }, (_, k) => {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) payload[i] = linearToMulaw(8000 * Math.sin((2 * Math.PI * 1000 * (k * 160 + i)) / 8000));
    return { payloadType: 0, marker: false, sequence: k, timestamp: k * 160, ssrc: 7, csrcs: [], payload };
  });
}

const PIN_HASH = hashPin('1234', Buffer.alloc(16, 1));

/** Lets real time pass (scrypt runs on the thread pool, outside the fake clock) until `done()`. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000; // Date and setImmediate are not faked here
  while (!done() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  if (!done()) throw new Error('condition not reached');
}
const plays = (ch: FakeChannel) => ch.log.filter((l) => l.startsWith('play:')).map((l) => l.slice('play:/r/prompts/'.length).replace(/\.wav$/, ''));

describe('voicemail flows', () => {
  let dir: string;
  let db: Db;
  let events: EventBus;
  let seen: DaemonEvent[];
  let store: VoicemailStore;
  let warnings: string[];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    dir = mkdtempSync(join(tmpdir(), 'vm-flow-'));
    db = openDaemonDb(join(dir, 'daemon.db'));
    events = new EventBus();
    seen = [];
    warnings = [];
    events.subscribe((e) => seen.push(e));
    store = new VoicemailStore(db, dir, events);
  });
  afterEach(() => {
    vi.useRealTimers();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function context(ch: FakeChannel, cfg = config()): FlowContext & { steps: string[] } {
    const steps: string[] = [];
    return {
      channel: ch, config: cfg, promptDir: '/r/prompts', digits: new DigitQueue(ch), signal: ch.hungUp, state: new CallStateMachine(),
      step: (s) => steps.push(s), now: () => new Date(1_763_760_000_000), ringState: new MemoryRingStateStore(), steps,
      voicemail: { store, pins: { '1001': PIN_HASH }, log: { info: () => undefined, warn: (m) => warnings.push(m) } },
    };
  }

  it('deposit: synthesized greeting with the box number, beep, recording until #, stored and announced', async () => {
    const ch = new FakeChannel({ caller: { number: '1002', name: 'Bob' } });
    ch.onRecordStart = () => {
      tonePackets(3000).forEach((p) => ch.sendRtp(p));
      ch.press('#');
    };
    const ctx = context(ch);
    const done = runVoicemailDeposit(ctx, ctx.config.extensions['1001']!, 'unavailable');
    await vi.advanceTimersByTimeAsync(20_000);
    await done;
    expect(plays(ch)).toEqual(['vmPersonAt', 'digit1', 'digit0', 'digit0', 'digit1', 'vmUnavailable', 'vmBeep', 'goodbye']);
    expect(ch.log.indexOf('record')).toBe(ch.log.indexOf('play:/r/prompts/vmBeep.wav') + 1);
    const [m] = store.list('1001');
    expect(m).toMatchObject({ caller: { number: '1002', name: 'Bob' }, durationMs: 3000, folder: 'new', receivedAt: 1_763_760_000_000 });
    expect(ctx.steps).toEqual(['voicemail', 'voicemail.recorded']);
    expect(seen.map((e) => e.type)).toEqual(['voicemail.new', 'voicemail.changed']);
    expect(ctx.state.state).toBe('answered');
  });

  it('deposit: the owner\'s recorded busy greeting; a message shorter than the minimum is discarded', async () => {
    const greeting = store.saveGreeting('1001', 'busy', new Int16Array(16000));
    const ch = new FakeChannel();
    ch.onRecordStart = () => {
      tonePackets(1000).forEach((p) => ch.sendRtp(p));
      ch.callerHangsUp();
    };
    const ctx = context(ch);
    const done = runVoicemailDeposit(ctx, ctx.config.extensions['1001']!, 'busy');
    await vi.advanceTimersByTimeAsync(10_000);
    await done;
    expect(ch.log.slice(0, 4)).toEqual(['answer', `play:${greeting}`, 'play:/r/prompts/vmBeep.wav', 'record']);
    expect(ctx.steps).toEqual(['voicemail', 'voicemail.discarded']);
    expect(store.total('1001')).toBe(0);
  });

  it('deposit: a full box says so and hangs up without recording', async () => {
    store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: new Int16Array(8000) });
    const ch = new FakeChannel();
    const ctx = context(ch, config({ maxMessages: 1 }));
    const done = runVoicemailDeposit(ctx, ctx.config.extensions['1001']!, 'unavailable');
    await vi.advanceTimersByTimeAsync(5000);
    await done;
    expect(plays(ch)).toEqual(['vmMailboxFull', 'goodbye']);
    expect(ch.log).not.toContain('record');
    expect(ctx.steps).toEqual(['voicemail', 'voicemail.full']);
  });

  it('an extension that is busy forwards to its box with the busy greeting (runCallFlow)', async () => {
    const ch = new FakeChannel({ caller: { number: '1002' }, dialed: '1001' });
    ch.callees = { '1001': { failAfterMs: 100, status: 486 } };
    ch.onRecordStart = () => tonePackets(2500).forEach((p) => ch.sendRtp(p)); // then 3 s of nothing: silence ends it
    const ctx = context(ch);
    const done = runCallFlow(ctx, { dialed: '1001', dest: 'extension:1001' });
    await vi.advanceTimersByTimeAsync(30_000);
    await done;
    expect(plays(ch)).toContain('vmBusy');
    expect(ctx.steps).toEqual(expect.arrayContaining(['forward', 'voicemail', 'voicemail.recorded']));
    expect(store.list('1001')[0]).toMatchObject({ durationMs: 2500 });
    expect(ch.log.at(-1)).toBe('bye');
    expect(ctx.state.state).toBe('completed');
  });

  it('an extension on do-not-disturb goes straight to its box with the busy greeting', async () => {
    const cfg = config();
    cfg.extensions['1001'] = { ...cfg.extensions['1001']!, doNotDisturb: true };
    const ch = new FakeChannel({ caller: { number: '1002' }, dialed: '1001' });
    ch.onRecordStart = () => ch.callerHangsUp();
    const ctx = context(ch, cfg);
    const done = runCallFlow(ctx, { dialed: '1001', dest: 'extension:1001' });
    await vi.advanceTimersByTimeAsync(15_000);
    await done;
    expect(ch.dials).toEqual([]);
    expect(plays(ch)).toEqual(['vmPersonAt', 'digit1', 'digit0', 'digit0', 'digit1', 'vmBusy', 'vmBeep']);
    expect(ctx.steps).toEqual(['do-not-disturb', 'voicemail', 'voicemail.discarded']);
    expect(ctx.state.state).toBe('completed');
  });

  it('a forward Kamailio already decided (X-PBX-Forward) goes to the box without ringing: busy or unavailable greeting', async () => {
    for (const [forward, greeting, step] of [['busy', 'vmBusy', 'forward'], ['no-answer', 'vmUnavailable', 'forward'], ['unavailable', 'vmUnavailable', 'forward'], ['dnd', 'vmBusy', 'do-not-disturb']] as const) {
      const cfg = config();
      cfg.extensions['1001'] = { ...cfg.extensions['1001']!, forward: { ...cfg.extensions['1001']!.forward, unavailable: { type: 'voicemail', mailbox: '1001' } } };
      const ch = new FakeChannel({ caller: { number: '1002' }, dialed: '1001' });
      ch.onRecordStart = () => ch.callerHangsUp();
      const ctx = context(ch, cfg);
      const done = runCallFlow(ctx, { dialed: '1001', dest: 'extension:1001', forward });
      await vi.advanceTimersByTimeAsync(15_000);
      await done;
      expect(ch.dials, forward).toEqual([]);
      expect(plays(ch), forward).toEqual(['vmPersonAt', 'digit1', 'digit0', 'digit0', 'digit1', greeting, 'vmBeep']);
      expect(ctx.steps, forward).toEqual([step, 'voicemail', 'voicemail.discarded']);
    }
  });

  it('retrieval: PIN, counts, play (new -> old), delete, save, exit', async () => {
    const a = store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: new Int16Array(8000), receivedAt: 1_763_700_000_001 });
    const b = store.deposit({ mailbox: '1001', caller: { number: '+15551230000' }, samples: new Int16Array(8000), receivedAt: 1_763_700_000_002 });
    seen.length = 0;
    const ch = new FakeChannel({ caller: { number: '1001' }, dialed: '*97' });
    const ctx = context(ch);
    const done = runCallFlow(ctx, { dialed: '*97', dest: 'feature:voicemail' });
    await vi.advanceTimersByTimeAsync(500);
    ch.press('1234#');
    await until(() => ctx.steps.includes('voicemail.authenticated'));
    await vi.advanceTimersByTimeAsync(2500); // "You have" "two" ...
    ch.press('1');
    await vi.advanceTimersByTimeAsync(8000); // message a: "Message from" 1 0 0 2, audio, then the message menu
    ch.press('7');
    await vi.advanceTimersByTimeAsync(1500); // "deleted", then message b starts
    await vi.advanceTimersByTimeAsync(1000);
    ch.press('9'); // during b's envelope: b counts as heard, then saved
    await vi.advanceTimersByTimeAsync(3000); // "saved", "no more messages", main menu
    ch.press('*');
    await vi.advanceTimersByTimeAsync(3000);
    await done;
    expect(ch.log).toEqual([
      'answer', 'play:/r/prompts/vmEnterPin.wav', 'stop:/r/prompts/vmEnterPin.wav',
      'play:/r/prompts/vmYouHave.wav', 'play:/r/prompts/digit2.wav', 'play:/r/prompts/vmNewMessages.wav', 'stop:/r/prompts/vmNewMessages.wav',
      'play:/r/prompts/vmMessageFrom.wav', 'play:/r/prompts/digit1.wav', 'play:/r/prompts/digit0.wav', 'play:/r/prompts/digit0.wav', 'play:/r/prompts/digit2.wav', `play:${a.file}`,
      'play:/r/prompts/vmMessageMenu.wav', 'play:/r/prompts/vmDeleted.wav',
      'play:/r/prompts/vmMessageFrom.wav', 'play:/r/prompts/digit1.wav', 'stop:/r/prompts/digit1.wav', 'play:/r/prompts/vmSaved.wav',
      'play:/r/prompts/vmNoMoreMessages.wav', 'play:/r/prompts/vmMainMenu.wav', 'play:/r/prompts/goodbye.wav', 'bye',
    ]);
    expect(store.get('1001', a.id)).toBeUndefined();
    expect(store.get('1001', b.id)?.folder).toBe('saved');
    expect(store.counts('1001')).toEqual({ newCount: 0, oldCount: 1 });
    expect(ctx.steps).toEqual(expect.arrayContaining(['voicemail.login', 'voicemail.authenticated', 'voicemail.listened', 'voicemail.deleted']));
    expect(seen.filter((e) => e.type === 'voicemail.changed').map((e) => e.type === 'voicemail.changed' && [e.newCount, e.oldCount])).toEqual([[1, 1], [1, 0], [0, 1]]);
    expect(ch.log.at(-1)).toBe('bye');
  });

  it('retrieval: three wrong PINs end the call with a pin-failed step and a warning', async () => {
    store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: new Int16Array(8000) });
    const ch = new FakeChannel({ caller: { number: '1002' }, dialed: '*98' });
    const ctx = context(ch);
    const done = runVoicemailRetrieval(ctx, 'voicemailAny');
    let n = 0;
    for (const entry of ['1001#9999#', '1001#0000#', '1001#1235#']) {
      await vi.advanceTimersByTimeAsync(300);
      ch.press(entry);
      n++;
      await until(() => ctx.steps.filter((s) => s === 'voicemail.pin-wrong').length === n);
      await vi.advanceTimersByTimeAsync(2500);
    }
    await vi.advanceTimersByTimeAsync(3000);
    await done;
    expect(ctx.steps.filter((s) => s === 'voicemail.pin-wrong')).toHaveLength(3);
    expect(ctx.steps.at(-1)).toBe('voicemail.pin-failed');
    expect(warnings).toEqual(['voicemail: PIN check failed, call hung up']);
    expect(plays(ch).at(-1)).toBe('goodbye');
    expect(store.counts('1001')).toEqual({ newCount: 1, oldCount: 0 });
  });

  it('retrieval: a box without a PIN cannot be opened, even with an empty entry', async () => {
    const ch = new FakeChannel({ caller: { number: '1002' }, dialed: '*97' });
    const ctx = context(ch);
    const done = runVoicemailRetrieval(ctx, 'voicemail');
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(300);
      ch.press('#');
      await vi.advanceTimersByTimeAsync(2000);
    }
    await vi.advanceTimersByTimeAsync(3000);
    await done;
    expect(ctx.steps.at(-1)).toBe('voicemail.pin-failed');
  });

  it('maps message-menu digits', () => {
    expect(['1', '7', '9', '#', '6', '*', '5', undefined].map(messageAction)).toEqual(['replay', 'delete', 'save', 'next', 'next', 'previous', 'repeat-menu', 'repeat-menu']);
  });
});
