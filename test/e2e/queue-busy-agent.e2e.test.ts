/**
 * An agent busy on a call the daemon never sees is not offered a queue caller: real Kamailio (its
 * dialog events over evapi), RTPengine, sipp phones and an in-process daemon. A carrier call to
 * 1002's own DID goes through Kamailio alone; while it lasts, a ring-all queue with agents 1001 and
 * 1002 offers its caller to 1001 only. Once that call has ended, the next caller rings both. A
 * daemon restarted during such a call still knows about it (the CDR module's persisted open calls).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/daemon/daemon.js';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { localDayStart } from '../../src/daemon/queue/stats.js';
import { describeSipp, startSipp, type SippRun } from '../../src/lab/sipp.js';
import { addHtableRows, deployFeatureRepo, eventually, inProcessDaemonOptions, writeRepo } from './support/feature-repo.js';
import { PHONE_IP, TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { call, finalStatus, register } from './support/phones.js';

const QUEUE_DID = '+15550400';
const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], queues: ["7100-7199"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'queues/support.yaml':
    'kind: Queue\nid: support\nnumber: "7100"\nstrategy: ring-all\nagents: [{extension: "1001"}, {extension: "1002"}]\n' +
    'maxWait: 60\njoinEmpty: true\nleaveWhenEmpty: false\nagentRingTimeout: 5\nwrapUp: 0\noverflow: hangup\n',
  'inbound-routes/queue.yaml': `kind: InboundRoute\nid: queue-line\ndids: ["${QUEUE_DID}"]\ndestination: queue:support\n`,
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};

let node: LabNode;
let daemon: RunningDaemon;
let options: DaemonOptions;
let client: DaemonClient;
const events: DaemonEvent[] = [];
/** The statistics day (the repo's zone is UTC) the suite started in. */
const suiteDay = localDayStart(Date.now(), 'UTC');
const phones: SippRun[] = [];

beforeAll(async () => {
  node = await startLabNode('queue-busy');
  await deployFeatureRepo(node, await writeRepo(REPO, 'pbxctl-queue-busy-repo-'));
  await addHtableRows(node, 'did', [`${QUEUE_DID}:0:0:t=feature;dest=queue\\:support:0`]);
  // With evapi: Kamailio's dialog events are what tell the daemon about the direct call.
  options = inProcessDaemonOptions(node, 'e2e-token-queue-busy-0123456789');
  await startTheDaemon();
  client = new DaemonClient({ host: '127.0.0.1', port: node.ports.daemonApi, token: 'e2e-token-queue-busy-0123456789' });
  // Both agents' phones answer every call (-aa: 200 to anything out of dialog, such as a NOTIFY).
  for (const user of ['1001', '1002']) {
    const contactPort = node.allocPorts();
    phones.push(
      await startSipp({
        scenario: 'uas-answer.xml', target: node.sipTarget, workDir: node.workDir, name: `busy-agent-${user}`,
        localIp: PHONE_IP, localPort: contactPort, mediaPort: node.allocPorts(4), timeoutSec: 120, calls: 6, extraArgs: ['-aa'],
      }),
    );
    expect(finalStatus(await register(node, user, contactPort)), `${user} registers`).toBe(200);
    await client.queueAgent('login', user);
  }
}, 90_000);

afterAll(async () => {
  for (const p of phones) await p.stop().catch(() => undefined);
  await daemon?.stop();
  await node?.stop();
});

async function startTheDaemon(): Promise<void> {
  daemon = await startDaemon(options);
  daemon.events.subscribe((e) => events.push(e));
}

/** The agents the queue rang for `callId` (its `dial` steps), in order. */
function offers(callId: string): string[] {
  return events.filter((e) => e.type === 'call.step' && e.callId === callId && e.step === 'dial').map((e) => String((e as { detail: { targets?: unknown } }).detail.targets));
}

/** A carrier call to the queue DID that hangs up `durationMs` after the answer; resolves its Call-ID once it joined. */
async function queueCaller(number: string, durationMs: number): Promise<{ run: SippRun; callId: string }> {
  const mark = events.length;
  const run = await startSipp({
    scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: `busy-caller-${number}`,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    service: QUEUE_DID, durationMs, keys: { from_user: number },
  });
  const joined = await eventually(() => {
    const e = events.slice(mark).find((x) => x.type === 'queue.joined' && x.caller.number === number);
    if (!e || e.type !== 'queue.joined') throw new Error(`${number} has not joined`);
    return e;
  });
  return { run, callId: joined.callId };
}

describe('queue agents busy on calls the daemon does not handle (Kamailio dialog events)', () => {
  it('skips the agent talking on a direct DID call, and rings it again once that call ended', async () => {
    // 1 5550100 from the carrier is 1002's DID: Kamailio relays it to 1002's phone itself.
    const direct = await call(node, '15550100', { fromIp: TRUNK_IP, durationMs: 8000 });
    await eventually(() => {
      const answered = events.find((e) => e.type === 'dialog.answered' && e.target === '1002');
      if (!answered) throw new Error('the direct call is not answered yet');
    });
    const first = await queueCaller('+12125550701', 1500);
    const answered = await eventually(() => {
      const e = events.find((x) => x.type === 'queue.answered' && x.callId === first.callId);
      if (!e || e.type !== 'queue.answered') throw new Error('not answered yet');
      return e;
    }, 15_000);
    expect(answered.agent).toBe('1001');
    expect(offers(first.callId)).toEqual(['1001']);
    expect((await first.run.done).exitCode).toBe(0);

    const directResult = await direct.done;
    expect(directResult.exitCode, describeSipp(directResult)).toBe(0);
    await eventually(() => {
      if (!events.some((e) => e.type === 'dialog.ended' && e.target === '1002')) throw new Error('the direct call has not ended yet');
    });
    const second = await queueCaller('+12125550702', 1500);
    await eventually(() => expect(events.some((x) => x.type === 'queue.answered' && x.callId === second.callId)).toBe(true), 15_000);
    // Ring-all offers both agents now (the order is the roster's).
    expect(offers(second.callId).map((t) => t.split(',').sort().join(','))).toEqual(['1001,1002']);
    expect((await second.run.done).exitCode).toBe(0);
  }, 60_000);

  it('a daemon restarted during the direct call still skips that agent (the CDR module\'s open calls) and keeps the day\'s statistics (the queue log)', async () => {
    const mark = events.length;
    const direct = await call(node, '15550100', { fromIp: TRUNK_IP, durationMs: 10_000 });
    await eventually(() => {
      if (!events.slice(mark).some((e) => e.type === 'dialog.answered' && e.target === '1002')) throw new Error('the direct call is not answered yet');
    });
    await daemon.stop();
    await startTheDaemon();
    const caller = await queueCaller('+12125550703', 1500);
    await eventually(() => expect(events.some((x) => x.type === 'queue.answered' && x.callId === caller.callId)).toBe(true), 15_000);
    expect(offers(caller.callId)).toEqual(['1001']);
    expect((await caller.run.done).exitCode).toBe(0);
    // The day's statistics went through the restart (the queue log): all three callers of this suite.
    if (localDayStart(Date.now(), 'UTC') === suiteDay) {
      const stats = await eventually(async () => {
        const q = (await client.queues()).queues[0]!;
        expect(q.answered).toBe(3);
        return q;
      });
      expect(stats).toMatchObject({ joined: 3, abandoned: 0, serviceLevel: 1 });
      // Per agent too (fewest-calls reads these): 1001 took the first and the third caller.
      const agents = (await client.queues()).agents;
      expect(agents.reduce((n, a) => n + a.callsAnswered, 0)).toBe(3);
      expect(agents.find((a) => a.extension === '1001')!.callsAnswered).toBeGreaterThanOrEqual(2);
    }
    const result = await direct.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
  }, 60_000);
});
