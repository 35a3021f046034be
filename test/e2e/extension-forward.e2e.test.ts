/**
 * Extension forwards for calls Kamailio relays itself (docs/node-data.md "Forwards"), end to end
 * with real Kamailio, RTPengine, sipp phones and the feature daemon as its own process (dist/
 * built). The node's htables are compiled from a repo (compileNodeData): 1002 calls 1001, whose
 * phone rings without answering: Kamailio gives up after 1001's no-answer timeout (3 s) and hands
 * the call to the daemon, which records a message in 1001's box (the caller's 440 Hz tone: the
 * daemon got the caller's own SDP, Kamailio's RTPengine session is gone). A busy phone (486) goes to
 * the box with the busy greeting, an unregistered 1001 and a do-not-disturb 1003 at once, without
 * their phones ringing. A no-answer forward to another extension (1004 -> 1001) keeps the daemon's
 * branch alive past 1004's own 2 s timer. A caller who hangs up while 1001 rings is not forwarded. Every call from
 * 1002 carries forged X-PBX-Dest / X-PBX-Forward headers (fwd-uac.xml), which Kamailio must drop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allocate, compileNodeData } from '../../src/compile/node-data.js';
import { renderReleaseFiles } from '../../src/compile/release-files.js';
import type { FeatureConfig } from '../../src/daemon/config-types.js';
import type { DaemonClient } from '../../src/daemon/daemon-client.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { describeSipp, startSipp, type SippRun } from '../../src/lab/sipp.js';
import { decodeWav, rmsDbfs } from '../../src/media/wav.js';
import { pcmuPcap } from '../support/wav.js';
import { addHtableRows, deployFeatureRepo, EventLog, eventually, writeRepo } from './support/feature-repo.js';
import { LAB_DOMAIN, PASSWORDS, PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { finalStatus, register } from './support/phones.js';

const VM = 'forward: {busy: "voicemail:NUM", noAnswer: "voicemail:NUM", unavailable: "voicemail:NUM"}\n';
const REPO: Record<string, string> = {
  'pbx.yaml': `name: e2e\ndomain: ${LAB_DOMAIN}\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n`,
  'extensions/1001.yaml': `kind: Extension\nnumber: "1001"\nname: Alice\npassword: \${secret:EXT_1001}\nnoAnswerTimeout: 3\n${VM.replaceAll('NUM', '1001')}`,
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'extensions/1003.yaml': `kind: Extension\nnumber: "1003"\nname: Carol\npassword: \${secret:EXT_1003}\ndoNotDisturb: true\n${VM.replaceAll('NUM', '1003')}`,
  // Rings 2 s, then to 1001 through the daemon, which rings 1001 for its own 3 s first.
  'extensions/1004.yaml': 'kind: Extension\nnumber: "1004"\nname: Dave\npassword: ${secret:EXT_1004}\nnoAnswerTimeout: 2\nforward: {noAnswer: "extension:1001"}\n',
  'voicemail/settings.yaml': 'kind: VoicemailSettings\nminMessageLength: 1\nmaxSilence: 8\n',
  '.secrets.yaml': `EXT_1001: ${PASSWORDS['1001']}\nEXT_1002: ${PASSWORDS['1002']}\nEXT_1003: secret-1003\nEXT_1004: secret-1004\n`,
};
/** A DID the carrier calls, routed by Kamailio straight to extension 1001 (`did` t=ext). */
const DID = '+15550402';
const NO_ANSWER_MS = 3000;
const TONE_HZ = 440;
const TONE_MS = 3000;

let node: LabNode;
let client: DaemonClient;
let config: FeatureConfig;
let tonePcap: string;
let promptMs = new Map<string, number>();
const log = new EventLog();

function waitEvent<T extends DaemonEvent['type']>(type: T, afterSeq: number, pred?: (e: Extract<DaemonEvent, { type: T }>) => boolean): Promise<Extract<DaemonEvent, { type: T }>> {
  return log.waitEvent(type, afterSeq, pred).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${node.logs(30)}`);
  });
}

const lastSeq = () => log.lastSeq;
/** The call.step events of one call after `seq`: `[step, detail]`. */
const stepsOf = (callId: string, seq: number) => log.ofType('call.step', seq).filter((e) => e.callId === callId).map((e) => [e.step, e.detail] as const);

/** The default greeting of `box` (busy or unavailable) plus the beep, ms (flows/voicemail.ts). */
function greetingMs(box: string, kind: 'busy' | 'unavailable'): number {
  const p = config.systemPrompts;
  const digits = [...box].map((d) => p[`digit${d}` as keyof typeof p]);
  return [p.vmPersonAt, ...digits, kind === 'busy' ? p.vmBusy : p.vmUnavailable, p.vmBeep].reduce((sum, id) => sum + (promptMs.get(id) ?? 0), 0);
}

/** 1002 calls `number` (fwd-uac.xml): once answered, the greeting of `box`, the tone, then BYE. */
function callFrom1002(number: string, name: string, kind: 'busy' | 'unavailable', box: string): Promise<SippRun> {
  return startSipp({
    scenario: 'fwd-uac.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: PHONE_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    // The pause starts at the 200 (after any ringing): greeting + beep + a margin for the NG round trips.
    service: number, durationMs: greetingMs(box, kind) + 1200, auth: { user: '1002', password: PASSWORDS['1002']! },
    keys: { from_user: '1002', audio_pcap: tonePcap },
  });
}

/** A phone of `user` whose sipp UAS plays `scenario` for one INVITE; registered at PHONE_IP. */
async function phone(user: string, scenario: string, password: string, pauseMs?: number): Promise<{ uas: SippRun; unregister: () => Promise<void> }> {
  const port = node.allocPorts();
  const uas = await startSipp({
    scenario, target: node.sipTarget, workDir: node.workDir, name: `phone-${user}-${scenario}-${port}`, localIp: PHONE_IP, localPort: port, mediaPort: node.allocPorts(4), timeoutSec: 40,
    ...(pauseMs !== undefined ? { durationMs: pauseMs } : {}),
  });
  const reg = await register(node, user, port, { password });
  if (finalStatus(reg) !== 200) {
    await uas.stop();
    throw new Error(`${user} did not register: ${reg.responses.join(' ')}`);
  }
  return { uas, unregister: async () => void (await register(node, user, port, { password, expires: 0 })) };
}

/** The message the call left in `box`, checked through GET /v1/voicemail/:box/messages: the caller's tone. */
async function expectToneMessage(box: string, messageId: string): Promise<void> {
  const list = await client.voicemailMessages(box);
  expect(list.messages).toEqual(expect.arrayContaining([expect.objectContaining({ id: messageId, folder: 'new', caller: expect.objectContaining({ number: '1002' }) })]));
  const wav = decodeWav(await client.voicemailAudio(box, messageId));
  expect(Math.abs(wav.durationMs - TONE_MS), `recorded ${wav.durationMs} ms`).toBeLessThanOrEqual(600);
  expect(rmsDbfs(wav.samples)).toBeGreaterThan(-20);
  let crossings = 0;
  for (let i = 1; i < wav.samples.length; i++) if ((wav.samples[i - 1]! < 0) !== (wav.samples[i]! < 0)) crossings++;
  const hz = crossings / 2 / (wav.durationMs / 1000);
  expect(hz, `pitch of the recording ${hz.toFixed(0)} Hz`).toBeGreaterThan(TONE_HZ * 0.85);
  expect(hz).toBeLessThan(TONE_HZ * 1.15);
}

beforeAll(async () => {
  node = await startLabNode('extension-forward', { daemon: true });
  client = node.daemon!.client;
  const deployed = await deployFeatureRepo(node, await writeRepo(REPO, 'pbxctl-fwd-repo-'));
  ({ config, promptMs } = deployed);
  const state = deployed.state;
  // Kamailio's data as pbxctl compiles it: auth, ext (with the forward attrs) and dial; the DID to
  // extension 1001 is added to the fixture's `did` table (its trunk addresses stay).
  const secrets: Record<string, string> = { '${secret:EXT_1001}': PASSWORDS['1001']!, '${secret:EXT_1002}': PASSWORDS['1002']!, '${secret:EXT_1003}': 'secret-1003', '${secret:EXT_1004}': 'secret-1004' };
  const entries = compileNodeData(state, (ref) => secrets[ref] ?? '', allocate(state));
  expect(entries.find((e) => e.id === 'htable/ext/1001')?.value).toBe('str:maxc=3;fwd=bnu;rto=3');
  for (const f of renderReleaseFiles(entries)) {
    if (['db/pbx_auth', 'db/pbx_ext', 'db/pbx_dial'].includes(f.path)) await node.writeReleaseFile(f.path, f.content);
  }
  for (const table of ['auth', 'ext', 'dial']) await node.rpc.call('htable.reload', [table]);
  await addHtableRows(node, 'did', [`${DID}:0:0:t=ext;ext=1001:0`]);
  await client.reload();
  await log.follow(node.ports.daemonApi, (await readFile(node.daemon!.tokenFile, 'utf8')).trim());
  tonePcap = join(node.workDir, 'tone-440.pcap');
  await writeFile(tonePcap, pcmuPcap(Int16Array.from({ length: (TONE_MS / 1000) * 8000 }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * TONE_HZ * i) / 8000)))));
}, 90_000);

afterAll(async () => {
  log.close();
  await node?.stop();
});

describe('extension forwards of calls Kamailio relays (Kamailio + RTPengine + sipp + pbxctl daemon)', () => {
  it('no answer within the timeout: Kamailio cancels the ringing phone and the daemon records a message', async () => {
    const alice = await phone('1001', 'cdr-uas-ring.xml', PASSWORDS['1001']!);
    try {
      const seq = lastSeq();
      const t0 = Date.now();
      const caller = await callFrom1002('1001', 'fwd-no-answer', 'unavailable', '1001');
      const started = await waitEvent('call.started', seq);
      const ringMs = Date.now() - t0;
      expect(ringMs, 'the call reaches the daemon after the no-answer timeout').toBeGreaterThanOrEqual(NO_ANSWER_MS - 300);
      expect(ringMs).toBeLessThan(NO_ANSWER_MS + 3000);
      expect(started).toMatchObject({ destination: 'extension:1001', dialed: '1001' });
      const recorded = await waitEvent('voicemail.new', seq);
      expect(recorded).toMatchObject({ mailbox: '1001', caller: { number: '1002' } });
      const result = await caller.done;
      expect(result.exitCode, describeSipp(result)).toBe(0);
      // The phone saw the CANCEL at the timeout and nothing else (scenario complete).
      const rang = await alice.uas.done;
      expect(rang.exitCode, describeSipp(rang)).toBe(0);
      const steps = stepsOf(started.callId, seq);
      expect(steps[0]).toEqual(['forward', { extension: '1001', on: 'no-answer' }]);
      expect(steps.map(([s]) => s)).not.toContain('dial'); // not rung a second time by the daemon
      expect(steps).toContainEqual(['voicemail', { mailbox: '1001', greeting: 'unavailable' }]);
      await expectToneMessage('1001', recorded.messageId);
      await waitEvent('call.ended', seq, (e) => e.callId === started.callId);
      // One CDR for the call (Kamailio's dialog and the daemon's call, same Call-ID): to voicemail.
      const cdr = await eventually(async () => {
        const mine = (await client.cdrs({ limit: 1000 }, 'json')).cdrs.filter((c) => c.callId === started.callId);
        expect(mine).toHaveLength(1);
        return mine[0]!;
      }, 15_000);
      expect(cdr).toMatchObject({ direction: 'internal', from: '1002', to: '1001', disposition: 'voicemail' });
    } finally {
      await alice.uas.stop();
      await alice.unregister();
    }
  }, 90_000);

  it('busy (486 from the phone): the box plays its busy greeting', async () => {
    const alice = await phone('1001', 'cdr-uas-486.xml', PASSWORDS['1001']!);
    try {
      const seq = lastSeq();
      const t0 = Date.now();
      const caller = await callFrom1002('1001', 'fwd-busy', 'busy', '1001');
      const started = await waitEvent('call.started', seq);
      expect(Date.now() - t0).toBeLessThan(NO_ANSWER_MS);
      const recorded = await waitEvent('voicemail.new', seq);
      const result = await caller.done;
      expect(result.exitCode, describeSipp(result)).toBe(0);
      expect((await alice.uas.done).exitCode).toBe(0);
      const steps = stepsOf(started.callId, seq);
      expect(steps[0]).toEqual(['forward', { extension: '1001', on: 'busy' }]);
      expect(steps).toContainEqual(['voicemail', { mailbox: '1001', greeting: 'busy' }]);
      await expectToneMessage('1001', recorded.messageId);
    } finally {
      await alice.uas.stop();
      await alice.unregister();
    }
  }, 90_000);

  it('unregistered: straight to the box, without waiting for the timeout', async () => {
    const seq = lastSeq();
    const t0 = Date.now();
    const caller = await callFrom1002('1001', 'fwd-unavailable', 'unavailable', '1001');
    const started = await waitEvent('call.started', seq);
    expect(Date.now() - t0).toBeLessThan(NO_ANSWER_MS);
    const recorded = await waitEvent('voicemail.new', seq);
    expect((await caller.done).exitCode).toBe(0);
    const steps = stepsOf(started.callId, seq);
    expect(steps[0]).toEqual(['forward', { extension: '1001', on: 'unavailable' }]);
    expect(steps).toContainEqual(['voicemail', { mailbox: '1001', greeting: 'unavailable' }]);
    expect(recorded.mailbox).toBe('1001');
  }, 90_000);

  it('do-not-disturb: the registered phone does not ring, the box plays its busy greeting', async () => {
    // A phone that would answer: had Kamailio rung it, the call would be answered there.
    const carol = await phone('1003', 'uas-answer.xml', 'secret-1003');
    try {
      const seq = lastSeq();
      const caller = await callFrom1002('1003', 'fwd-dnd', 'busy', '1003');
      const started = await waitEvent('call.started', seq);
      const recorded = await waitEvent('voicemail.new', seq);
      expect((await caller.done).exitCode).toBe(0);
      const steps = stepsOf(started.callId, seq);
      expect(steps[0]).toEqual(['do-not-disturb', { extension: '1003' }]);
      expect(steps).toContainEqual(['voicemail', { mailbox: '1003', greeting: 'busy' }]);
      expect(recorded.mailbox).toBe('1003');
      await expectToneMessage('1003', recorded.messageId);
    } finally {
      const heard = await carol.uas.stop();
      await carol.unregister();
      // The phone never got an INVITE.
      expect(heard.requests).not.toContain('INVITE');
    }
  }, 90_000);

  it('a no-answer forward to another extension: the daemon rings it for longer than the first one\'s timeout', async () => {
    const dave = await phone('1004', 'cdr-uas-ring.xml', 'secret-1004');
    // 1001 rings 2.5 s, then is busy: the daemon's branch stays pending past 1004's 2 s timer.
    const alice = await phone('1001', 'fwd-uas-ring-busy.xml', PASSWORDS['1001']!, 2500);
    try {
      const seq = lastSeq();
      const caller = await callFrom1002('1004', 'fwd-chain', 'busy', '1001');
      const started = await waitEvent('call.started', seq);
      const recorded = await waitEvent('voicemail.new', seq);
      const result = await caller.done;
      // Answered by 1001's box, not cut by 1004's 2 s no-answer timer (t_set_fr in the failure_route).
      expect(result.exitCode, describeSipp(result)).toBe(0);
      expect(result.responses).toContain(200);
      expect(recorded.mailbox).toBe('1001');
      const steps = stepsOf(started.callId, seq).map(([s, d]) => (s === 'forward' ? `forward:${String(d.extension)}:${String(d.on)}` : s));
      expect(steps.slice(0, 3)).toEqual(['forward:1004:no-answer', 'dial', 'forward:1001:busy']);
      expect((await dave.uas.done).exitCode).toBe(0);
      expect((await alice.uas.done).exitCode).toBe(0);
    } finally {
      await dave.uas.stop();
      await dave.unregister();
      await alice.uas.stop();
      await alice.unregister();
    }
  }, 90_000);

  it('a caller who hangs up while the extension rings is not forwarded (DID to extension)', async () => {
    const alice = await phone('1001', 'cdr-uas-ring.xml', PASSWORDS['1001']!);
    try {
      const seq = lastSeq();
      const caller = await startSipp({
        scenario: 'cdr-uac-cancel.xml', target: node.sipTarget, workDir: node.workDir, name: 'fwd-cancel',
        localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
        service: DID, durationMs: 1000, keys: { from_user: '+12125550123' },
      });
      const result = await caller.done;
      expect(result.exitCode, describeSipp(result)).toBe(0);
      expect(result.responses).toContain(487);
      expect((await alice.uas.done).exitCode).toBe(0);
      // Past the no-answer timeout: still nothing at the daemon.
      await new Promise((r) => setTimeout(r, NO_ANSWER_MS + 1000));
      expect(log.ofType('call.started', seq)).toEqual([]);
    } finally {
      await alice.uas.stop();
      await alice.unregister();
    }
  }, 60_000);
});
