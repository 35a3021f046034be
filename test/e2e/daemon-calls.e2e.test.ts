/**
 * The feature daemon with real Kamailio, RTPengine and sipp on loopback: a carrier calls a DID
 * routed to an IVR, hears the greeting (RTPengine counters), presses 1 (RFC 4733 from sipp's
 * dtmf pcap), is bridged to the ring group whose members are sipp phones registered through
 * Kamailio, RTP flows both ways through RTPengine, and hang-up cleans up every leg and the
 * RTPengine session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { startSipp, describeSipp } from '../../src/lab/sipp.js';
import type { QueryTag } from '../../src/rtpengine/ng-types.js';
import { addHtableRows, deployFeatureRepo, eventually, writeRepo, inProcessDaemonOptions } from './support/feature-repo.js';
import { PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { answerer, finalStatus, phoneThatAnswers, register } from './support/phones.js';

const TODAY = new Date().toISOString().slice(0, 10);

/** A repo matching the hand-written node fixture: DID +15550199 -> ivr:main, 6000 -> ring-group:sales. */
const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'ring-groups/sales.yaml': 'kind: RingGroup\nid: sales\nnumber: "6000"\nstrategy: simultaneous\nmembers: [{extension: "1001"}, {extension: "1002"}]\ntotalTimeout: 15\nfallback: hangup\n',
  'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome. For sales, press 1."}\noptions: {"1": "ring-group:sales", "2": "extension:1002"}\ntimeout: 3\nretries: 0\ntimeoutDestination: extension:1002\ninvalidDestination: extension:1001\n',
  'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
  'ring-groups/support.yaml': 'kind: RingGroup\nid: support\nnumber: "6001"\nstrategy: sequential\nmembers: [{extension: "1001"}, {extension: "1002"}]\nringTimeout: 5\ntotalTimeout: 15\nfallback: hangup\n',
  'ring-groups/rr.yaml': 'kind: RingGroup\nid: rr\nnumber: "6002"\nstrategy: round-robin\nmembers: [{extension: "1001"}, {extension: "1002"}]\nringTimeout: 5\ntotalTimeout: 15\nfallback: hangup\n',
  'inbound-routes/groups.yaml': 'kind: InboundRoute\nid: support-line\ndids: ["+15550301"]\ndestination: ring-group:support\n---\nkind: InboundRoute\nid: rr-line\ndids: ["+15550302"]\ndestination: ring-group:rr\n',
  // Schedules relative to today (UTC): always open; closed today by an override; a holiday today.
  'schedules/all.yaml': [
    'kind: Schedule\nid: always\ntimezone: UTC\nhours: [{days: [mon, tue, wed, thu, fri, sat, sun], open: "00:00", close: "24:00"}]\n',
    `kind: Schedule\nid: closed-today\ntimezone: UTC\nhours: [{days: [mon, tue, wed, thu, fri, sat, sun], open: "00:00", close: "24:00"}]\noverrides: [{date: "${TODAY}", closed: true}]\n`,
    `kind: Schedule\nid: holiday-today\ntimezone: UTC\nhours: [{days: [mon, tue, wed, thu, fri, sat, sun], open: "00:00", close: "24:00"}]\nholidays: [{name: Test Day, date: "${TODAY}"}]\n`,
  ].join('---\n'),
  'inbound-routes/scheduled.yaml': [
    'kind: InboundRoute\nid: open-line\ndids: ["+15550311"]\nschedule: always\nopen: extension:1001\nclosed: extension:1002\nholiday: hangup\n',
    'kind: InboundRoute\nid: closed-line\ndids: ["+15550312"]\nschedule: closed-today\nopen: extension:1001\nclosed: extension:1002\nholiday: hangup\n',
    'kind: InboundRoute\nid: holiday-line\ndids: ["+15550313"]\nschedule: holiday-today\nopen: extension:1001\nclosed: extension:1002\nholiday: hangup\n',
  ].join('---\n'),
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};

/** Kamailio `did` rows for the DIDs above that the hand-written fixture does not have. */
const EXTRA_DIDS: Record<string, string> = {
  '+15550301': 'ring-group:support',
  '+15550302': 'ring-group:rr',
  '+15550311': 'route:open-line',
  '+15550312': 'route:closed-line',
  '+15550313': 'route:holiday-line',
};

let node: LabNode;
let daemon: RunningDaemon;
const events: DaemonEvent[] = [];

beforeAll(async () => {
  node = await startLabNode('daemon-calls');
  await deployFeatureRepo(node, await writeRepo(REPO, 'pbxctl-daemon-repo-'));
  await addHtableRows(node, 'did', Object.entries(EXTRA_DIDS).map(([n, d]) => `${n}:0:0:t=feature;dest=${d.replace(':', '\\:')}:0`));
  daemon = await startDaemon(inProcessDaemonOptions(node, 'e2e-token-0123456789abcdef', { withEvapi: false }));
  daemon.events.subscribe((e) => events.push(e));
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await node?.stop();
});

/** The events of the next call that starts after `seq`, found by polling. */
async function nextCall(afterSeq: number): Promise<{ callId: string; events: () => DaemonEvent[] }> {
  const started = await eventually(() => {
    const e = events.find((x) => x.seq > afterSeq && x.type === 'call.started');
    if (!e || e.type !== 'call.started') throw new Error('no call yet');
    return e;
  });
  return { callId: started.callId, events: () => events.filter((e) => 'callId' in e && e.callId === started.callId) };
}

/** Steps of a call so far, e.g. `ivr:main ivr.timeout extension ...`. */
const stepsOf = (evs: DaemonEvent[]) => evs.flatMap((e) => (e.type === 'call.step' ? [e.step] : []));

/** Resolves with the call.ended event of `callId`. */
function endedEvent(callId: string, timeoutMs = 15_000) {
  return eventually(() => {
    const e = events.find((x) => x.type === 'call.ended' && x.callId === callId);
    if (!e || e.type !== 'call.ended') throw new Error(`call ${callId} not ended`);
    return e;
  }, timeoutMs);
}

/** A carrier call to the IVR's DID that sends `digit` (a dtmf_2833 pcap name) after `afterMs`. */
function ivrCaller(name: string, digit: string, afterMs: number) {
  return startSipp({
    scenario: 'uac-ivr.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 40,
    service: '+15550199', durationMs: afterMs, extraArgs: ['-rtp_echo'],
    keys: { from_user: '+12125550123', dtmf_pcap: `/usr/share/sip-tester/dtmf_2833_${digit}.pcap` },
  });
}

describe('feature daemon calls (Kamailio + RTPengine + sipp)', () => {
  it('DID -> IVR greeting -> DTMF 1 -> ring group member answers -> bridged media both ways -> clean hang-up', async () => {
    const alice = await phoneThatAnswers(node, '1001');
    const bob = await phoneThatAnswers(node, '1002');
    const caller = await startSipp({
      scenario: 'uac-ivr.xml', target: node.sipTarget, workDir: node.workDir, name: 'ivr-caller',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
      service: '+15550199', durationMs: 2500, extraArgs: ['-rtp_echo'],
      keys: { from_user: '+12125550123', dtmf_pcap: '/usr/share/sip-tester/dtmf_2833_1.pcap' },
    });
    // The call's RTPengine session: the caller's Call-ID is its call-id.
    const started = await eventually(() => {
      const e = events.find((x) => x.type === 'call.started');
      if (!e || e.type !== 'call.started') throw new Error('no call yet');
      return e;
    });
    expect(started.destination).toBe('ivr:main');
    expect(started.dialed).toBe('+15550199');
    // The greeting reaches the caller: the caller (sipp -rtp_echo) echoes what it hears, so before
    // it sends its digit every packet RTPengine receives from it is the greeting coming back.
    const callerTag = (tags: QueryTag[]) => tags.find((t) => t.tag !== '' && !t.tag.startsWith('d-') && !t.tag.startsWith('leg-'));
    const heard = await eventually(async () => {
      const q = await node.ng.query({ callId: started.callId });
      const packets = callerTag(q.tags)?.medias[0]?.streams[0]?.stats.packets ?? 0;
      expect(packets).toBeGreaterThan(20);
      return packets;
    });
    expect(events.some((e) => e.type === 'call.step' && e.step === 'ivr.digits'), 'greeting heard before the digit').toBe(false);
    expect(heard).toBeGreaterThan(20);
    const bridged = await eventually(() => {
      const e = events.find((x) => x.type === 'call.step' && x.step === 'bridged');
      if (!e || e.type !== 'call.step') throw new Error(`not bridged; steps: ${events.filter((x) => x.type === 'call.step').map((x) => (x as { step: string }).step).join(' ')}`);
      return e;
    }, 15_000);
    expect(events.some((e) => e.type === 'call.step' && e.step === 'ivr.digits' && e.detail.digits === '1')).toBe(true);
    expect(['1001', '1002']).toContain(bridged.detail.to);
    // Bridged: caller <-> RTPengine <-> callee with packets both ways. (10.5's `query` keeps listing
    // branches it deleted, with their old subscriptions; rtpengine's log shows the daemon's leg and
    // the losing member's leg deleted, and media-session.e2e.test.ts checks where packets go.)
    await eventually(async () => {
      const q = await node.ng.query({ callId: started.callId });
      const c = callerTag(q.tags);
      const legs = q.tags.filter((t) => t.tag.startsWith('leg-'));
      const callee = legs.find((t) => t.subscriptions.includes(c?.tag ?? '-'))!;
      expect(callee, JSON.stringify(q.tags.map((t) => [t.tag, t.subscriptions, t.inDialogueWith]))).toBeDefined();
      expect(c?.subscriptions).toContain(callee.tag);
      expect(callee.medias[0]?.streams[0]?.stats.packets ?? 0).toBeGreaterThan(20);
      expect(c?.medias[0]?.streams[0]?.stats.packets ?? 0).toBeGreaterThan(heard + 20);
    });
    const result = await caller.done;
    expect(result.exitCode, `${describeSipp(result)}\n${events.map((e) => JSON.stringify(e)).join("\n")}`).toBe(0);
    const ended = await eventually(() => {
      const e = events.find((x) => x.type === 'call.ended' && x.callId === started.callId);
      if (!e || e.type !== 'call.ended') throw new Error('not ended');
      return e;
    });
    expect(ended.state).toBe('completed');
    // Nothing left behind: no RTPengine session, no daemon call.
    await eventually(async () => expect(await node.ng.list()).not.toContain(started.callId));
    await alice.uas.stop();
    await bob.uas.stop();
    await alice.unregister();
    await bob.unregister();
  }, 60_000);
});

describe('IVR paths and clean-up (Kamailio + RTPengine + sipp)', () => {
  it('no digit within the timeout: the timeout destination (extension 1002) is rung and bridged', async () => {
    const bob = await phoneThatAnswers(node, '1002');
    const seq = events.at(-1)?.seq ?? 0;
    // The digit comes 9 s after the answer: long after the 3 s timeout that follows the greeting.
    const caller = await ivrCaller('ivr-timeout', '5', 9000);
    const call = await nextCall(seq);
    const ended = await endedEvent(call.callId, 30_000);
    const result = await caller.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    expect(stepsOf(call.events())).toEqual(['ivr:main', 'ivr.timeout', 'dial', 'bridged', 'bridge.ended']);
    expect(call.events().find((e) => e.type === 'call.step' && e.step === 'bridged')).toMatchObject({ detail: { to: '1002' } });
    expect(ended.state).toBe('completed');
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('an invalid digit: the invalid destination (extension 1001) is rung and bridged', async () => {
    const alice = await phoneThatAnswers(node, '1001');
    const seq = events.at(-1)?.seq ?? 0;
    const caller = await ivrCaller('ivr-invalid', '9', 1500);
    const call = await nextCall(seq);
    await endedEvent(call.callId, 30_000);
    expect((await caller.done).exitCode).toBe(0);
    expect(stepsOf(call.events())).toEqual(['ivr:main', 'ivr.digits', 'dial', 'bridged', 'bridge.ended']);
    expect(call.events().find((e) => e.type === 'call.step' && e.step === 'ivr.digits')).toMatchObject({ detail: { digits: '9', valid: false } });
    await alice.uas.stop();
    await alice.unregister();
  }, 60_000);

  it('a caller hanging up during the greeting leaves no RTPengine session and no daemon call behind', async () => {
    const seq = events.at(-1)?.seq ?? 0;
    // uac-call.xml: answered, 0.5 s of audio, BYE, while the greeting still plays.
    const caller = await startSipp({
      scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: 'ivr-early-bye',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 20,
      service: '+15550199', durationMs: 500, keys: { from_user: '+12125550123' },
    });
    const call = await nextCall(seq);
    const ended = await endedEvent(call.callId);
    expect((await caller.done).exitCode).toBe(0);
    expect(ended.state).toBe('completed');
    expect(stepsOf(call.events())).toEqual(['ivr:main']);
    await eventually(async () => expect(await node.ng.list()).not.toContain(call.callId));
    const health = await fetch(`http://127.0.0.1:${daemon.apiPort}/v1/calls`, { headers: { authorization: 'Bearer e2e-token-0123456789abcdef' } });
    expect(((await health.json()) as { calls: unknown[] }).calls).toEqual([]);
  }, 60_000);
});

/** A carrier call (uac-call.xml) to `did` that talks `durationMs` once answered. */
function carrierCall(name: string, did: string, durationMs = 1500) {
  return startSipp({
    scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
    service: did, durationMs, keys: { from_user: '+12125550123' },
  });
}

const dialTargets = (evs: DaemonEvent[]) => evs.flatMap((e) => (e.type === 'call.step' && e.step === 'dial' ? [String(e.detail.targets)] : []));

describe('ring groups and schedules (Kamailio + RTPengine + sipp)', () => {
  it('sequential: members are rung one at a time in order; 1001 is busy, 1002 answers', async () => {
    const busyPort = node.allocPorts();
    const busy = await answerer(node, PHONE_IP, busyPort, 'busy', 'alice-busy');
    expect(finalStatus(await register(node, '1001', busyPort))).toBe(200);
    const bob = await phoneThatAnswers(node, '1002');
    const seq = events.at(-1)?.seq ?? 0;
    const caller = await carrierCall('sequential', '+15550301');
    const call = await nextCall(seq);
    await endedEvent(call.callId);
    expect((await caller.done).exitCode).toBe(0);
    expect(dialTargets(call.events())).toEqual(['1001', '1002']);
    expect(call.events().find((e) => e.type === 'call.step' && e.step === 'bridged')).toMatchObject({ detail: { to: '1002' } });
    await busy.stop();
    await register(node, '1001', busyPort, { expires: 0 });
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('round-robin: each call starts with the member after the one that took the last call', async () => {
    const firsts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const alice = await phoneThatAnswers(node, '1001');
      const bob = await phoneThatAnswers(node, '1002');
      const seq = events.at(-1)?.seq ?? 0;
      const caller = await carrierCall(`round-robin-${i}`, '+15550302', 500);
      const call = await nextCall(seq);
      await endedEvent(call.callId);
      expect((await caller.done).exitCode).toBe(0);
      firsts.push(dialTargets(call.events())[0] ?? '-');
      for (const p of [alice, bob]) {
        await p.uas.stop();
        await p.unregister();
      }
    }
    expect(firsts).toEqual(['1001', '1002', '1001']);
  }, 90_000);

  it('schedules: a DID goes to its open, closed (override today) or holiday (today) destination', async () => {
    // No phone is registered: Kamailio answers the daemon's INVITE 480, which is enough to see where it went.
    const cases: [string, string, string[]][] = [
      ['+15550311', 'open', ['1001']],
      ['+15550312', 'closed', ['1002']],
      ['+15550313', 'holiday', []],
    ];
    for (const [did, state, targets] of cases) {
      const seq = events.at(-1)?.seq ?? 0;
      const caller = await carrierCall(`schedule-${state}`, did);
      const call = await nextCall(seq);
      const ended = await endedEvent(call.callId);
      const result = await caller.done;
      expect(result.exitCode, describeSipp(result)).toBe(0);
      expect(call.events().find((e) => e.type === 'call.step' && e.step === 'schedule'), state).toMatchObject({ detail: { state } });
      expect(dialTargets(call.events()), state).toEqual(targets);
      expect(result.responses.at(-1), state).toBe(480);
      expect(ended.state).toBe('no-answer');
    }
  }, 60_000);
});

/**
 * A carrier call to the sequential `support` group (+15550301) answered by 1001, each side played
 * by its own sipp scenario; both must end normally. Returns the call and both sipp results; 1001 is
 * unregistered again.
 */
async function memberCall(memberScenario: string, callerScenario: string, name: string) {
  const port = node.allocPorts();
  const member = await startSipp({
    scenario: memberScenario, target: node.sipTarget, workDir: node.workDir, name: `member-${name}`,
    localIp: PHONE_IP, localPort: port, mediaPort: node.allocPorts(4), timeoutSec: 30, durationMs: 1500,
  });
  expect(finalStatus(await register(node, '1001', port))).toBe(200);
  const seq = events.at(-1)?.seq ?? 0;
  const caller = await startSipp({
    scenario: callerScenario, target: node.sipTarget, workDir: node.workDir, name: `caller-${name}`,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
    service: '+15550301', keys: { from_user: '+12125550123' },
  });
  const call = await nextCall(seq);
  const [c, m] = [await caller.done, await member.done];
  expect(c.exitCode, describeSipp(c)).toBe(0);
  expect(m.exitCode, describeSipp(m)).toBe(0);
  await register(node, '1001', port, { expires: 0 });
  return { call, caller: c, member: m };
}

describe('hang-up by the callee (Kamailio + RTPengine + sipp)', () => {
  it('the answering member hangs up: the daemon ends the caller leg, and no dialog or media session is left', async () => {
    const { call, caller: c } = await memberCall('uas-answer-bye.xml', 'uac-wait-bye.xml', 'hangs-up');
    const ended = await endedEvent(call.callId);
    expect(c.requests.some((r) => r.startsWith('BYE '))).toBe(true);
    expect(ended.state).toBe('completed');
    expect(call.events().find((e) => e.type === 'call.step' && e.step === 'bridge.ended')).toMatchObject({ detail: { endedBy: 'callee' } });
    const bridged = call.events().find((e) => e.type === 'call.step' && e.step === 'bridged');
    const calleeCallId = bridged?.type === 'call.step' ? String(bridged.detail.callee) : '';
    expect(calleeCallId).not.toBe('');
    await eventually(async () => {
      expect(await node.ng.list()).not.toContain(call.callId);
      // Kamailio tracked both legs (caller -> daemon, daemon -> 1001); both are gone.
      const dialogs = JSON.stringify(await node.rpc.call('dlg.list'));
      expect(dialogs).not.toContain(call.callId);
      expect(dialogs).not.toContain(calleeCallId);
    });
  }, 60_000);
});

describe('hold and resume through the bridge (Kamailio + RTPengine + sipp)', () => {
  it("the caller's hold and resume re-INVITEs reach the bridged member, whose answers come back", async () => {
    const { call, member: a } = await memberCall('uas-answer-hold.xml', 'uac-hold.xml', 'holds');
    // sipp checked the directions (a=recvonly answering the hold, a=sendrecv after resume); the
    // member saw two re-INVITEs in the same dialog.
    expect(a.requests.filter((r) => r.startsWith('INVITE '))).toHaveLength(3);
    expect((await endedEvent(call.callId)).state).toBe('completed');
  }, 60_000);
});

describe('hold from the member side (Kamailio + RTPengine + sipp)', () => {
  it("the member's hold re-INVITE reaches the caller, whose answer goes back to the member", async () => {
    const { call, caller: c } = await memberCall('uas-hold.xml', 'uac-held.xml', 'held');
    expect(c.requests.filter((r) => r.startsWith('INVITE '))).toHaveLength(1);
    expect((await endedEvent(call.callId)).state).toBe('completed');
  }, 60_000);
});

describe('daemon metrics after the calls above', () => {
  it('counts calls by final state, tasks, NG round trips and DTMF-to-action', async () => {
    const r = await fetch(`http://127.0.0.1:${daemon.apiPort}/metrics`, { headers: { authorization: 'Bearer e2e-token-0123456789abcdef' } });
    const text = await r.text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
    expect(value(/^pbx_calls_total\{state="completed"\} (\d+)/m)).toBeGreaterThanOrEqual(5);
    expect(value(/^pbx_call_tasks_total\{task="bridge",result="ok"\} (\d+)/m)).toBeGreaterThanOrEqual(4);
    expect(value(/^pbx_call_tasks_total\{task="play",result="ok"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^pbx_rtpengine_ng_request_duration_seconds_count\{command="offer"\} (\d+)/m)).toBeGreaterThanOrEqual(5);
    expect(value(/^pbx_dtmf_to_action_seconds_count (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^pbx_calls_active (\d+)/m)).toBe(0);
  });
});
