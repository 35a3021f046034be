/**
 * Voicemail end to end with real Kamailio, RTPengine, sipp and the feature daemon as its own
 * process (`pbxctl daemon`, dist/ built): a carrier call to a DID whose route rings extension 1001
 * (not registered) lands in 1001's box through its forward, the caller's 3 s PCMU tone (a pcap
 * made here, played by sipp) is recorded with the right length and pitch; the owner dials *97,
 * keys the PIN by RFC 4733 and hears the message (RTP echoed back by sipp for about the envelope
 * plus the message); three wrong PINs end the call; a daemon SIGKILLed right after a message was
 * recorded still has it after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FeatureConfig } from '../../src/daemon/config-types.js';
import type { DaemonClient } from '../../src/daemon/daemon-client.js';
import { hashPin } from '../../src/daemon/secrets-types.js';
import { startFeatureDaemon, stopProcess, type LabProcess } from '../../src/lab/index.js';
import { describeSipp, startSipp } from '../../src/lab/sipp.js';
import { decodeWav, rmsDbfs } from '../../src/media/wav.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { pbxctl } from '../cli/helpers.js';
import { pcmuPcap } from '../support/wav.js';
import { addHtableRows, deployFeatureRepo, eventually, EventLog, writeRepo } from './support/feature-repo.js';
import { LAB_DOMAIN, PASSWORDS, PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\nnoAnswerTimeout: 4\nforward: {busy: "voicemail:1001", noAnswer: "voicemail:1001", unavailable: "voicemail:1001"}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'schedules/always.yaml': 'kind: Schedule\nid: always\ntimezone: UTC\nhours: [{days: [mon, tue, wed, thu, fri, sat, sun], open: "00:00", close: "24:00"}]\n',
  'inbound-routes/vm.yaml': 'kind: InboundRoute\nid: vm-line\ndids: ["+15550401"]\nschedule: always\nopen: extension:1001\nclosed: extension:1001\n',
  'voicemail/settings.yaml': 'kind: VoicemailSettings\nminMessageLength: 1\nmaxSilence: 8\npinAttempts: 3\n',
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};
const DID = '+15550401';
const CALLER = '+12125550123';
/** Digits unlike the menu's 1: sipp's DTMF pcaps have fixed RTP timestamps, so each digit can be keyed once per call. */
const PIN = '4326';
const TONE_HZ = 440;
const TONE_MS = 3000;
const TOKEN_HINT = 'daemon log in the lab node (PBXCTL_E2E_KEEP=1 keeps it)';

let node: LabNode;
let daemonProc: LabProcess;
let client: DaemonClient;
let config: FeatureConfig;
/** Rendered prompt lengths by id, ms. */
const promptMs = new Map<string, number>();
const log = new EventLog();
const events = log.events;
let tonePcap: string;
/** Environment of `pbxctl ... --target lab` runs: the lab registry of this node. */
let cliEnv: NodeJS.ProcessEnv;
let labDir: string;

const lastSeq = () => log.lastSeq;
const waitEvent: EventLog['waitEvent'] = (...a) => log.waitEvent(...a);
const dtmf = (d: string) => `/usr/share/sip-tester/dtmf_2833_${d === '#' ? 'pound' : d === '*' ? 'star' : d}.pcap`;
const ms = (id: string) => promptMs.get(id) ?? 0;

function daemonOptions(n: LabNode) {
  return {
    root: n.root, sipAddress: '127.0.0.1', sipPort: n.ports.daemonSip, kamailio: `127.0.0.1:${n.ports.sip}`, ng: `127.0.0.1:${n.ports.ng}`,
    apiPort: n.ports.daemonApi, tokenFile: n.daemon!.tokenFile, rtpMin: n.ports.daemonRtpMin, rtpMax: n.ports.daemonRtpMax,
    stateDir: join(n.root, 'state', 'daemon'), pidFile: join(n.root, 'run', 'daemon.pid'), logFile: join(n.root, 'log', 'daemon.log'),
  };
}

beforeAll(async () => {
  node = await startLabNode('voicemail', { daemon: true });
  daemonProc = node.daemon!.process;
  client = node.daemon!.client;
  const deployed = await deployFeatureRepo(node, await writeRepo(REPO, 'pbxctl-vm-repo-'), { secrets: { formatVersion: 1, webhooks: {}, voicemailPins: { '1001': hashPin(PIN) } } });
  config = deployed.config;
  for (const [id, d] of deployed.promptMs) promptMs.set(id, d);
  await addHtableRows(node, 'did', [`${DID}:0:0:t=feature;dest=route\\:vm-line:0`]);
  await client.reload();
  const token = (await readFile(node.daemon!.tokenFile, 'utf8')).trim();
  await log.follow(node.ports.daemonApi, token);
  labDir = join(node.workDir, 'lab');
  await writeLabInfo(labDir, node.labInfo(LAB_DOMAIN));
  cliEnv = { PBXCTL_LAB_DIR: labDir };
  tonePcap = join(node.workDir, 'tone-440.pcap');
  await writeFile(tonePcap, pcmuPcap(Int16Array.from({ length: (TONE_MS / 1000) * 8000 }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * TONE_HZ * i) / 8000)))));
}, 90_000);

afterAll(async () => {
  log.close();
  // A daemon this file restarted is not in the lab node's list: stop it here, by its pid.
  if (node && daemonProc !== node.daemon?.process) await stopProcess(daemonProc.pid, { expectCommand: daemonProc.name, group: true });
  await node?.stop();
});

/** The greeting of box 1001 as the flow builds it, plus the beep, ms. */
function greetingMs(): number {
  const p = config.systemPrompts;
  return [p.vmPersonAt, p.digit1, p.digit0, p.digit0, p.digit1, p.vmUnavailable, p.vmBeep].reduce((sum, id) => sum + ms(id), 0);
}

/** A carrier call to the DID that leaves the tone after the greeting, then hangs up. */
function leaveMessage(name: string) {
  return startSipp({
    scenario: 'vm-leave.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    // Ring time of 1001 (unregistered: fails at once) + greeting + beep + a margin for the NG round trips.
    service: DID, durationMs: greetingMs() + 1200, keys: { from_user: CALLER, audio_pcap: tonePcap },
  });
}

/** 1001 calls *97 and keys `digits` (6 for vm-listen.xml, 11 for vm-pin-wrong.xml). */
function ownerCall(name: string, scenario: 'vm-listen.xml' | 'vm-pin-wrong.xml', digits: string, pauseMs: number) {
  return startSipp({
    scenario, target: node.sipTarget, workDir: node.workDir, name,
    localIp: PHONE_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    service: '*97', durationMs: pauseMs, extraArgs: ['-rtp_echo'],
    auth: { user: '1001', password: PASSWORDS['1001']! },
    keys: { from_user: '1001', ...Object.fromEntries([...digits].map((d, i) => [`d${i + 1}`, dtmf(d)])) },
  });
}

describe('voicemail (Kamailio + RTPengine + sipp + pbxctl daemon)', () => {
  let messageId: string;

  it('an unanswered extension sends the caller to its box: the message has the caller\'s audio and length', async () => {
    const seq = lastSeq();
    const caller = await leaveMessage('vm-leave');
    const recorded = await waitEvent('voicemail.new', seq);
    const result = await caller.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const steps = events.filter((e) => e.seq > seq && e.type === 'call.step').map((e) => (e as { step: string }).step);
    expect(steps).toEqual(expect.arrayContaining(['schedule', 'dial', 'forward', 'voicemail', 'voicemail.recorded']));
    expect(recorded).toMatchObject({ mailbox: '1001', caller: { number: CALLER } });
    expect(Math.abs(recorded.durationS * 1000 - TONE_MS), `recorded ${recorded.durationS} s`).toBeLessThanOrEqual(500);
    const changed = await waitEvent('voicemail.changed', seq);
    expect(changed).toMatchObject({ mailbox: '1001', newCount: 1, oldCount: 0 });
    messageId = recorded.messageId;
    // Through the API: listed, and the audio is the caller's 440 Hz tone, not silence.
    const list = await client.voicemailMessages('1001');
    expect(list.messages).toEqual([expect.objectContaining({ id: messageId, folder: 'new', durationMs: recorded.durationS * 1000, caller: expect.objectContaining({ number: CALLER }) })]);
    const wav = decodeWav(await client.voicemailAudio('1001', messageId));
    expect(wav).toMatchObject({ sampleRate: 8000, channels: 1, bitsPerSample: 16 });
    expect(Math.abs(wav.durationMs - TONE_MS)).toBeLessThanOrEqual(500);
    expect(rmsDbfs(wav.samples)).toBeGreaterThan(-20);
    let crossings = 0;
    for (let i = 1; i < wav.samples.length; i++) if ((wav.samples[i - 1]! < 0) !== (wav.samples[i]! < 0)) crossings++;
    const hz = crossings / 2 / (wav.durationMs / 1000);
    expect(hz, `pitch of the recording ${hz.toFixed(0)} Hz`).toBeGreaterThan(TONE_HZ * 0.85);
    expect(hz).toBeLessThan(TONE_HZ * 1.15);
    // The same through the CLI (bin/pbxctl over dist/, --target lab).
    const boxes = await pbxctl(['voicemail', 'list', '--target', 'lab'], { env: cliEnv });
    expect(boxes.stdout, boxes.stderr).toContain('1001  1 new, 0 old');
    const json = await pbxctl(['voicemail', 'list', '1001', '--target', 'lab', '--json'], { env: cliEnv });
    expect(JSON.parse(json.stdout), json.stderr).toMatchObject({ mailbox: '1001', newCount: 1, messages: [{ id: messageId }] });
    expectMatchesOutputSchema('voicemail-list', JSON.parse(json.stdout));
    const boxesJson = await pbxctl(['voicemail', 'list', '--target', 'lab', '--json'], { env: cliEnv });
    expect(JSON.parse(boxesJson.stdout).mailboxes, boxesJson.stderr).toContainEqual({ mailbox: '1001', newCount: 1, oldCount: 0 });
    expectMatchesOutputSchema('voicemail-list', JSON.parse(boxesJson.stdout));
    const out = join(node.workDir, 'message.wav');
    const got = await pbxctl(['voicemail', 'get', '1001', messageId, '--target', 'lab', '-o', out], { env: cliEnv });
    expect(got.code, got.stderr).toBe(0);
    expect(decodeWav(await readFile(out)).durationMs).toBe(wav.durationMs);
  }, 90_000);

  it('the owner dials *97, keys the PIN and hears the message; it moves from new to old', async () => {
    expect(messageId).toBeDefined();
    const seq = lastSeq();
    // PIN, #, then 1 (listen) as type-ahead during the PIN prompt.
    const owner = await ownerCall('vm-listen', 'vm-listen.xml', `${PIN}#1`, 800);
    const auth = await waitEvent('call.step', seq, (e) => e.step === 'voicemail.authenticated', 30_000);
    const callId = auth.callId;
    const packetsNow = async () => {
      const q = await node.ng.query({ callId });
      // The owner's own tag (sipp echoes what it hears): every other tag is the daemon's (`d-...`).
      const tag = q.tags.find((t) => t.tag !== '' && !t.tag.startsWith('d-'));
      return tag?.medias[0]?.streams[0]?.stats.packets ?? 0;
    };
    const atAuth = await packetsNow();
    const listened = await waitEvent('call.step', seq, (e) => e.step === 'voicemail.listened', 40_000);
    expect(listened.detail).toMatchObject({ mailbox: '1001', messageId });
    const atListened = await packetsNow();
    // Between the PIN and "heard": "Message from" + the caller's 11 digits + the message, echoed back.
    const p = config.systemPrompts;
    const digits = CALLER.slice(1).split('').map((d) => p[`digit${d}` as keyof typeof p]);
    const expectedMs = ms(p.vmMessageFrom) + digits.reduce((s, id) => s + ms(id), 0) + TONE_MS;
    const heardMs = (atListened - atAuth) * 20;
    expect(Math.abs(heardMs - expectedMs), `heard ${heardMs} ms of audio, expected about ${expectedMs} ms`).toBeLessThanOrEqual(1500);
    expect(heardMs).toBeGreaterThan(expectedMs - TONE_MS + 1000); // the message itself was played, not only the envelope
    const result = await owner.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    await waitEvent('call.ended', seq, (e) => e.callId === callId);
    expect(await client.voicemailMessages('1001')).toMatchObject({ newCount: 0, oldCount: 1, messages: [{ id: messageId, folder: 'old' }] });
    expect(events.filter((e) => e.seq > seq && e.type === 'voicemail.changed').at(-1)).toMatchObject({ mailbox: '1001', newCount: 0, oldCount: 1 });
    // The stream so far (voicemail.new, voicemail.changed, call steps) as `pbxctl calls tail --json` prints it.
    for (const e of events) expectMatchesOutputSchema('event', e);
  }, 90_000);

  it('three wrong PINs end the call (BYE from the daemon) with a logged pin-failed step', async () => {
    const seq = lastSeq();
    // 578#, then 90*1 and 236 ended by the inter-digit timeout: three wrong PINs.
    const owner = await ownerCall('vm-pin-wrong', 'vm-pin-wrong.xml', '578#90*1236', 800);
    const failed = await waitEvent('call.step', seq, (e) => e.step === 'voicemail.pin-failed', 40_000);
    expect(failed.detail).toMatchObject({ mailbox: '1001', attempts: 3 });
    expect(events.filter((e) => e.seq > seq && e.type === 'call.step' && e.step === 'voicemail.pin-wrong')).toHaveLength(3);
    const result = await owner.done;
    expect(result.exitCode, `the daemon must hang up: ${describeSipp(result)}`).toBe(0);
    expect(events.some((e) => e.seq > seq && e.type === 'call.step' && e.step === 'voicemail.authenticated')).toBe(false);
    const log = await readFile(join(node.root, 'log', 'daemon.log'), 'utf8');
    expect(log, TOKEN_HINT).toContain('voicemail: PIN check failed');
  }, 90_000);

  it('a message recorded just before the daemon is SIGKILLed is there after the restart', async () => {
    const seq = lastSeq();
    const caller = await leaveMessage('vm-leave-crash');
    const recorded = await waitEvent('voicemail.new', seq);
    process.kill(daemonProc.pid, 'SIGKILL');
    await caller.done; // the call dies with the daemon; the message was already accepted
    log.close();
    const opts = daemonOptions(node);
    const token = (await readFile(opts.tokenFile, 'utf8')).trim();
    daemonProc = await startFeatureDaemon(opts, token);
    await log.follow(opts.apiPort, token);
    const info = node.labInfo(LAB_DOMAIN);
    await writeLabInfo(labDir, { ...info, pids: { ...info.pids, daemon: daemonProc.pid } });
    const list = await eventually(() => client.voicemailMessages('1001'));
    expect(list.messages.map((m) => m.id)).toContain(recorded.messageId);
    expect(list.messages.find((m) => m.id === recorded.messageId)).toMatchObject({ folder: 'new', caller: expect.objectContaining({ number: CALLER }) });
    const wav = decodeWav(await client.voicemailAudio('1001', recorded.messageId));
    expect(Math.abs(wav.durationMs - recorded.durationS * 1000)).toBeLessThanOrEqual(100);
    const del = await pbxctl(['voicemail', 'delete', '1001', recorded.messageId, '--target', 'lab'], { env: cliEnv });
    expect(del.code, del.stderr).toBe(0);
    expect((await client.voicemailMessages('1001')).messages.map((m) => m.id)).not.toContain(recorded.messageId);
    const again = await pbxctl(['voicemail', 'delete', '1001', recorded.messageId, '--target', 'lab'], { env: cliEnv });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('VOICEMAIL_NOT_FOUND');
  }, 120_000);
});
