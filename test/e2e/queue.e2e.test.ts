/**
 * ACD queue end to end, with real Kamailio, RTPengine and sipp on loopback and the feature daemon
 * in-process: two agents (sipp UAS phones registered as 1001 and 1002 through Kamailio), one logs
 * in by dialling the agentLogin feature code, the other through the API; the daemon is restarted
 * and both are still logged in; callers from a carrier queue in order with music on hold, are
 * offered round-robin and bridged; one caller abandons; one waits past max wait, hears the
 * position announcement on schedule, and overflows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { describeSipp, startSipp, type SippRun } from '../../src/lab/sipp.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { pbxctl } from '../cli/helpers.js';
import { deployFeatureRepo, eventually, writeRepo, inProcessDaemonOptions } from './support/feature-repo.js';
import { LAB_DOMAIN, PASSWORDS, PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { finalStatus, register } from './support/phones.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const QUEUE_DID = '+15550400';
const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], queues: ["7100-7199"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC, musicOnHold: hold}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  // An agent whose phone never registers (Kamailio has no such user): offers to it fail at once.
  'extensions/1003.yaml': 'kind: Extension\nnumber: "1003"\nname: Carol\npassword: ${secret:EXT_1003}\n',
  'music-on-hold/hold.yaml': 'kind: MusicOnHold\nid: hold\nfiles: [moh/tone.wav]\n',
  // joinEmpty / leaveWhenEmpty off: callers wait while the agents are paused (the test pauses them).
  'queues/support.yaml':
    'kind: Queue\nid: support\nnumber: "7100"\nstrategy: round-robin\nagents: [{extension: "1001"}, {extension: "1002"}, {extension: "1003"}]\n' +
    'maxWait: 17\njoinEmpty: true\nleaveWhenEmpty: false\nagentRingTimeout: 5\nwrapUp: 0\noverflow: hangup\nannouncements: {position: true, interval: 15}\n',
  'inbound-routes/queue.yaml': `kind: InboundRoute\nid: queue-line\ndids: ["${QUEUE_DID}"]\ndestination: queue:support\n`,
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\nEXT_1003: secret-1003\n',
};

let node: LabNode;
let daemon: RunningDaemon;
let client: DaemonClient;
let daemonOptions: DaemonOptions;
/** lab.json for `pbxctl --target lab` (the CLI reaches this in-process daemon's API). */
let labDir: string;
const events: DaemonEvent[] = [];
const phones: SippRun[] = [];

async function start(): Promise<void> {
  daemon = await startDaemon(daemonOptions);
  daemon.events.subscribe((e) => events.push(e));
}

beforeAll(async () => {
  node = await startLabNode('queue');
  const repo = await writeRepo(REPO, 'pbxctl-queue-repo-');
  // Three seconds of a 440 Hz tone as the hold music (RTPengine loops it with repeat-times).
  await mkdir(join(repo, 'moh'), { recursive: true });
  execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', join(repo, 'moh', 'tone.wav'), 'synth', '3', 'sine', '440', 'vol', '0.3']);
  await deployFeatureRepo(node, repo);
  // Kamailio hands the queue DID and the agent feature codes to the daemon (what apply renders).
  await node.writeReleaseFile('db/pbx_did', `${await node.readReleaseFile('db/pbx_did')}${QUEUE_DID}:0:0:t=feature;dest=queue\\:support:0\n`);
  const codes = ['*72:agentLogin', '*73:agentLogout', '*74:agentPause'].map((c) => c.split(':')).map(([n, f]) => `${n}:0:0:t=feature;dest=feature\\:${f}:0\n`);
  await node.writeReleaseFile('db/pbx_dial', `${await node.readReleaseFile('db/pbx_dial')}${codes.join('')}`);
  await node.rpc.call('htable.reload', ['did']);
  await node.rpc.call('htable.reload', ['dial']);
  daemonOptions = inProcessDaemonOptions(node, 'e2e-token-queue-0123456789', { withEvapi: false });
  await start();
  client = new DaemonClient({ host: '127.0.0.1', port: node.ports.daemonApi, token: daemonOptions.token });
  const tokenFile = join(node.workDir, 'daemon.token');
  await writeFile(tokenFile, `${daemonOptions.token}\n`, { mode: 0o600 });
  labDir = join(node.workDir, 'lab');
  const info = node.labInfo(LAB_DOMAIN);
  await writeLabInfo(labDir, { ...info, ports: { ...info.ports, daemonSip: node.ports.daemonSip, daemonApi: node.ports.daemonApi }, daemonTokenFile: tokenFile });
  // The agents' phones: each answers up to 6 calls (180, 200, G.711 audio, waits for the BYE).
  for (const user of ['1001', '1002']) {
    const contactPort = node.allocPorts();
    phones.push(
      await startSipp({
        scenario: 'uas-answer.xml', target: node.sipTarget, workDir: node.workDir, name: `agent-${user}`,
        localIp: PHONE_IP, localPort: contactPort, mediaPort: node.allocPorts(4), timeoutSec: 120, calls: 6,
      }),
    );
    const reg = await register(node, user, contactPort);
    expect(finalStatus(reg), `${user} registers`).toBe(200);
  }
}, 90_000);

afterAll(async () => {
  for (const p of phones) await p.stop().catch(() => undefined);
  await daemon?.stop();
  await node?.stop();
});


/** Events of one type, narrowed. */
function ofType<T extends DaemonEvent['type']>(type: T, after = 0): Extract<DaemonEvent, { type: T }>[] {
  return events.filter((e): e is Extract<DaemonEvent, { type: T }> => e.type === type && e.seq > after);
}

/** A carrier call to the queue: uac-call.xml hangs up after `durationMs`; uac-wait-bye.xml waits for the daemon's BYE. */
function caller(name: string, o: { durationMs?: number; waitForBye?: boolean; number: string; echo?: boolean }): Promise<SippRun> {
  return startSipp({
    scenario: o.waitForBye ? 'uac-wait-bye.xml' : 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    service: QUEUE_DID, durationMs: o.durationMs ?? 1000, keys: { from_user: o.number }, ...(o.echo ? { extraArgs: ['-rtp_echo'] } : {}),
  });
}

/** Packets RTPengine received from the caller of `callId` (the tag that is neither the daemon's `d-` nor a `leg-`). */
async function callerPackets(callId: string): Promise<number> {
  const q = await node.ng.query({ callId });
  const tag = q.tags.find((t) => t.tag !== '' && !t.tag.startsWith('d-') && !t.tag.startsWith('leg-'));
  return tag?.medias[0]?.streams[0]?.stats.packets ?? 0;
}

/** The queue call (Call-ID) of a caller number, once it joined. */
async function joinedCall(number: string, after: number) {
  return eventually(() => {
    const e = ofType('queue.joined', after).find((x) => x.caller.number === number);
    if (!e) throw new Error(`${number} has not joined; events: ${events.filter((x) => x.seq > after).map((x) => x.type).join(' ')}`);
    return e;
  });
}

describe('queue with two agents (Kamailio + RTPengine + sipp)', () => {
  it('an agent logs in by feature code, the other through the API; both logins survive a daemon restart', async () => {
    const login = await startSipp({
      scenario: 'queue-uac-code.xml', target: node.sipTarget, workDir: node.workDir, name: 'agent-login-1001',
      localIp: PHONE_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 20,
      service: '*72', auth: { user: '1001', password: PASSWORDS['1001']! }, keys: { from_user: '1001' },
    });
    const result = await login.done;
    expect(result.exitCode, `${describeSipp(result)}\n${node.logs(20)}`).toBe(0);
    expect(events).toContainEqual(expect.objectContaining({ type: 'call.step', step: 'feature:agentLogin', detail: { extension: '1001', result: 'agentLoggedIn', queues: 'support' } }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'agent.state', extension: '1001', queue: 'support', state: 'available', reason: 'feature-code' }));
    expect(await client.queueAgent('login', '1002')).toMatchObject({ queues: ['support'] });
    await expect(client.queueAgent('login', '1004')).rejects.toMatchObject({ code: 'QUEUE_NOT_AGENT' });

    await daemon.stop();
    await start();
    const q = await client.queues();
    expect(q.agents.map((a) => [a.extension, a.queues.map((x) => x.queue)])).toEqual([
      ['1001', ['support']],
      ['1002', ['support']],
      ['1003', []],
    ]);
    expect(q.queues[0]).toMatchObject({ queue: 'support', agentsLoggedIn: 2, agentsAvailable: 2 });
  }, 60_000);

  it('callers wait in order with music on hold, are offered round-robin, bridged; one abandons', async () => {
    await client.queueAgent('pause', '1001');
    // The other agent is paused with the CLI (bin/pbxctl over dist/: needs a build).
    const env = { PBXCTL_LAB_DIR: labDir };
    const paused = await pbxctl(['queue', 'agent', 'pause', '1002', '--reason', 'e2e', '--target', 'lab', '--json'], { env });
    expect(paused.code, paused.stderr).toBe(0);
    expectMatchesOutputSchema('queue-agent', JSON.parse(paused.stdout));
    expect(JSON.parse(paused.stdout)).toMatchObject({ extension: '1002', action: 'pause', queues: ['support'], agent: { queues: [{ queue: 'support', paused: true, pauseReason: 'e2e' }] } });
    const refused = await pbxctl(['queue', 'agent', 'pause', '1004', '--target', 'lab'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/QUEUE_NOT_AGENT/);
    const mark = events.at(-1)?.seq ?? 0;
    const runs: Promise<SippRun>[] = [];
    const numbers = ['+12125550001', '+12125550002', '+12125550003'];
    for (const n of numbers) {
      // Each caller stays 14 s from the answer (joining) and hangs up.
      runs.push(caller(`queue-caller-${n}`, { number: n, durationMs: 14_000 }));
      await joinedCall(n, mark);
    }
    const joined = await Promise.all(numbers.map((n) => joinedCall(n, mark)));
    expect(joined.map((j) => j.position)).toEqual([1, 2, 3]);
    // A fourth caller hangs up after 3 s while everybody waits: an abandon.
    const quitter = await caller('queue-quitter', { number: '+12125550009', durationMs: 3000 });
    const quit = await joinedCall('+12125550009', mark);
    expect(quit.position).toBe(4);
    const abandoned = await eventually(() => {
      const e = ofType('queue.abandoned', mark).find((x) => x.callId === quit.callId);
      if (!e) throw new Error('no abandon yet');
      return e;
    });
    expect(abandoned.position).toBe(4);
    expect(abandoned.waitMs).toBeGreaterThan(2000);
    expect((await quitter.done).exitCode).toBe(0);
    // Music on hold plays (RTPengine `play media` succeeded: no fallback to silence).
    expect(events.filter((e) => e.type === 'call.step' && e.step === 'queue.moh-failed')).toEqual([]);

    // Agents become available: c1 -> 1001, c2 -> 1002 (round-robin), c3 waits for the first free one.
    await client.queueAgent('unpause', '1001');
    const unpaused = await pbxctl(['queue', 'agent', 'unpause', '1002', '--target', 'lab'], { env });
    expect(unpaused.code, unpaused.stderr).toBe(0);
    expect(unpaused.stdout).toMatch(/Agent 1002 available again in support\./);
    const answers = await eventually(() => {
      const a = ofType('queue.answered', mark);
      if (a.length < 3) throw new Error(`answered: ${a.length}`);
      return a;
    }, 30_000);
    const byCall = new Map(answers.map((a) => [a.callId, a.agent]));
    expect(joined.map((j) => byCall.get(j.callId))).toEqual(['1001', '1002', expect.stringMatching(/^100[12]$/)]);
    // c3 was answered only after c1 or c2 hung up (14 s after joining).
    const answered3 = answers.find((a) => a.callId === joined[2]!.callId)!;
    expect(answered3.waitMs).toBeGreaterThan(8000);
    const bridged = events.filter((e) => e.type === 'call.step' && e.step === 'bridged' && joined.some((j) => j.callId === e.callId));
    expect(bridged).toHaveLength(3);
    for (const r of await Promise.all(runs)) {
      const res = await r.done;
      expect(res.exitCode, describeSipp(res)).toBe(0);
    }
    const reply = await client.queues();
    expectMatchesOutputSchema('queues', reply); // what `pbxctl queues --json` prints
    const stats = reply.queues[0]!;
    expect(stats).toMatchObject({ answered: 3, abandoned: 1, waiting: 0 });
    const metrics = await (await fetch(`http://127.0.0.1:${node.ports.daemonApi}/metrics`, { headers: { authorization: `Bearer ${daemonOptions.token}` } })).text();
    expect(metrics).toMatch(/^pbx_queue_answered_total\{queue="support"\} 3$/m);
    expect(metrics).toMatch(/^pbx_queue_abandoned_total\{queue="support"\} 1$/m);
    expect(metrics).toMatch(/^pbx_queue_callers_waiting\{queue="support"\} 0$/m);
    expect(metrics).toMatch(/^pbx_queue_wait_seconds_count\{queue="support"\} 3$/m);
  }, 90_000);

  it('a caller waits past max wait (offers to an unregistered agent fail, the music goes on), hears the position announcement on schedule, and overflows', async () => {
    await client.queueAgent('pause', '1001');
    await client.queueAgent('pause', '1002');
    // 1003 is logged in but its phone is not registered: each offer fails, and the queue backs off.
    await client.queueAgent('login', '1003');
    const mark = events.at(-1)?.seq ?? 0;
    const waiting = await caller('queue-overflow', { number: '+12125550020', waitForBye: true, echo: true });
    const joined = await joinedCall('+12125550020', mark);
    // Music on hold reaches the caller and loops: sipp echoes what it hears (-rtp_echo) once its own
    // audio file (about 7 s) has played, so between 9 s and 13 s after joining every packet RTPengine
    // gets from it is the 3 s hold tone coming back, played over again (50 packets a second).
    const joinedAt = Date.now();
    await new Promise((r) => setTimeout(r, 9000 - (Date.now() - joinedAt)));
    const before = await callerPackets(joined.callId);
    await new Promise((r) => setTimeout(r, 4000));
    const echoed = (await callerPackets(joined.callId)) - before;
    expect(echoed, 'hold music echoed back by the caller').toBeGreaterThan(150);
    const overflow = await eventually(() => {
      const e = ofType('queue.overflow', mark).find((x) => x.callId === joined.callId);
      if (!e) throw new Error('no overflow yet');
      return e;
    }, 25_000);
    expect(overflow.reason).toBe('max-wait');
    expect(overflow.waitMs).toBeGreaterThanOrEqual(17_000);
    expect(overflow.waitMs).toBeLessThan(18_500);
    const announce = events.filter((e) => e.type === 'call.step' && e.callId === joined.callId && e.step === 'queue.announce');
    expect(announce).toHaveLength(1);
    expect(announce[0]).toMatchObject({ detail: { position: 1 } });
    const lateMs = announce[0]!.type === 'call.step' ? Number(announce[0]!.detail.lateMs) : NaN;
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThan(1000);
    // Overflow to `hangup`: the daemon ends the call (BYE), which the caller answers.
    const res = await waiting.done;
    expect(res.exitCode, describeSipp(res)).toBe(0);
    expect((await client.queues()).queues[0]!.overflow['max-wait']).toBe(1);
    // Offered to 1003 at once and again after the 10 s back-off, never answered.
    const dials = events.filter((e) => e.type === 'call.step' && e.callId === joined.callId && e.step === 'dial');
    expect(dials.map((e) => e.type === 'call.step' && e.detail.targets)).toEqual(['1003', '1003']);
    await client.queueAgent('logout', '1003');
    // Every event as it went on the wire (`pbxctl calls tail --json` lines).
    for (const e of events) expectMatchesOutputSchema('event', JSON.parse(JSON.stringify(e)));
  }, 60_000);
});
