/**
 * Dead calls end (keepalive.ts): a lab node with real Kamailio, RTPengine and the feature daemon
 * process (`pbxctl daemon`, from dist/, as `pbxctl lab up` runs it) whose in-dialog OPTIONS
 * keepalive is set to 1 s through its flag (`--keepalive-interval`, here by its environment
 * variable PBXCTL_DAEMON_KEEPALIVE_INTERVAL), and sipp. A caller that vanishes without a BYE (sipp
 * killed with SIGKILL) — waiting in the IVR, or bridged to a phone — is found dead: Kamailio
 * answers the OPTIONS to the dead address 408 after tm's fr_timer (5 s), the daemon ends the
 * call, BYEs the phone and deletes the RTPengine session. Live legs that answer the OPTIONS stay up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { describeSipp, startSipp } from '../../src/lab/sipp.js';
import { addHtableRows, deployFeatureRepo, eventually, EventLog, writeRepo } from './support/feature-repo.js';
import { PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { finalStatus, register } from './support/phones.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/keepalive/', import.meta.url));
const KEEPALIVE_MS = 1000;
/** Kamailio's tm fr_timer in templates/kamailio/kamailio.cfg: its 408 for the dead peer's OPTIONS. */
const KAMAILIO_FR_MS = 5000;

const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome."}\noptions: {"1": "extension:1001"}\ntimeout: 60\nretries: 0\ntimeoutDestination: hangup\ninvalidDestination: hangup\n',
  'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
  'schedules/always.yaml': 'kind: Schedule\nid: always\ntimezone: UTC\nhours: [{days: [mon, tue, wed, thu, fri, sat, sun], open: "00:00", close: "24:00"}]\n',
  'inbound-routes/open.yaml': 'kind: InboundRoute\nid: open-line\ndids: ["+15550311"]\nschedule: always\nopen: extension:1001\nclosed: hangup\nholiday: hangup\n',
  '.secrets.yaml': 'EXT_1001: secret-1001\n',
};

let node: LabNode;
const log = new EventLog();
/** When each event arrived here (Date.now()), by seq: the daemon's own timestamps are of another process. */
const arrived = new Map<number, number>();
let watcher: NodeJS.Timeout | undefined;

beforeAll(async () => {
  // Read by `pbxctl daemon` (oclif flag env): this worker's environment is inherited by the daemon process.
  process.env.PBXCTL_DAEMON_KEEPALIVE_INTERVAL = String(KEEPALIVE_MS / 1000);
  node = await startLabNode('daemon-keepalive', { daemon: true });
  await deployFeatureRepo(node, await writeRepo(REPO, 'pbxctl-keepalive-repo-'));
  await addHtableRows(node, 'did', ['+15550311:0:0:t=feature;dest=route\\:open-line:0']);
  await node.daemon!.client.reload();
  await log.follow(node.ports.daemonApi, (await readFile(node.daemon!.tokenFile, 'utf8')).trim());
  watcher = setInterval(() => {
    for (const e of log.events) if (!arrived.has(e.seq)) arrived.set(e.seq, Date.now());
  }, 20);
}, 90_000);

afterAll(async () => {
  clearInterval(watcher);
  log.close();
  await node?.stop();
  delete process.env.PBXCTL_DAEMON_KEEPALIVE_INTERVAL;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const events = log.events;

/** The first event of `type` matching `pred`, with `at` = when it arrived here. */
function findEvent<T extends DaemonEvent['type']>(type: T, pred: (e: Extract<DaemonEvent, { type: T }>) => boolean = () => true) {
  const e = events.find((x): x is Extract<DaemonEvent, { type: T }> => x.type === type && pred(x as Extract<DaemonEvent, { type: T }>));
  return e && { ...e, at: arrived.get(e.seq) ?? Date.now() };
}

/** A carrier caller that stays up answering OPTIONS (fixtures/keepalive/uac-stay.xml). */
function stayingCaller(name: string, did: string) {
  return startSipp({
    scenario: join(FIXTURES, 'uac-stay.xml'), target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 60,
    service: did, keys: { from_user: '+12125550123' },
  });
}

/** SIGKILL: the caller vanishes without a BYE, as a phone losing power does. */
function killHard(pid: number): void {
  process.kill(pid, 'SIGKILL');
}

describe('daemon keepalive: calls whose peer vanished are ended (Kamailio + RTPengine + sipp)', () => {
  it('a caller waiting in the IVR that dies without BYE: call ended, RTPengine session deleted', async () => {
    const seq = events.length;
    const caller = await stayingCaller('ivr-dies', '+15550199');
    const started = await eventually(() => {
      const e = events.slice(seq).find((x) => x.type === 'call.started');
      if (!e || e.type !== 'call.started') throw new Error('no call yet');
      return e;
    });
    expect(started.destination).toBe('ivr:main');
    await eventually(async () => expect(await node.ng.list()).toContain(started.callId));
    // Three keepalives answered 200: a live caller is kept.
    await sleep(3.5 * KEEPALIVE_MS);
    expect(findEvent('call.ended', (e) => e.callId === started.callId)).toBeUndefined();
    killHard(caller.pid);
    const killedAt = Date.now();
    const result = await caller.done;
    expect(result.messages.filter((m) => m.method === 'OPTIONS' && m.direction === 'received').length, describeSipp(result)).toBeGreaterThanOrEqual(2);
    const ended = await eventually(() => {
      const e = findEvent('call.ended', (x) => x.callId === started.callId);
      if (!e) throw new Error('call not ended');
      return e;
    }, KEEPALIVE_MS + KAMAILIO_FR_MS + 5000);
    const tookMs = ended.at - killedAt;
    expect(tookMs).toBeLessThan(KEEPALIVE_MS + KAMAILIO_FR_MS + 2000);
    await eventually(async () => expect(await node.ng.list()).not.toContain(started.callId));
  }, 40_000);

  it('a bridged caller that dies without BYE: the phone gets the BYE, the RTPengine session is deleted', async () => {
    const contactPort = node.allocPorts();
    const phone = await startSipp({
      scenario: join(FIXTURES, 'uas-answer-options.xml'), target: node.sipTarget, workDir: node.workDir, name: 'phone-1001',
      localIp: PHONE_IP, localPort: contactPort, mediaPort: node.allocPorts(4), timeoutSec: 60,
    });
    const reg = await register(node, '1001', contactPort);
    expect(finalStatus(reg)).toBe(200);
    const seq = events.length;
    const caller = await stayingCaller('bridged-dies', '+15550311');
    const started = await eventually(() => {
      const e = events.slice(seq).find((x) => x.type === 'call.started');
      if (!e || e.type !== 'call.started') throw new Error('no call yet');
      return e;
    });
    await eventually(() => {
      if (!findEvent('call.step', (e) => e.callId === started.callId && e.step === 'bridged')) throw new Error('not bridged');
    }, 15_000);
    await sleep(3.5 * KEEPALIVE_MS);
    expect(findEvent('call.ended', (e) => e.callId === started.callId)).toBeUndefined();
    killHard(caller.pid);
    const killedAt = Date.now();
    // The phone (alive, answering the keepalives) is hung up by the daemon and ends normally.
    const phoneResult = await phone.done;
    const byeAt = Date.now();
    expect(phoneResult.exitCode, describeSipp(phoneResult)).toBe(0);
    expect(phoneResult.requests.some((r) => r.startsWith('BYE '))).toBe(true);
    expect(phoneResult.requests.filter((r) => r.startsWith('OPTIONS ')).length).toBeGreaterThanOrEqual(2);
    expect(byeAt - killedAt).toBeLessThan(KEEPALIVE_MS + KAMAILIO_FR_MS + 3000);
    const ended = await eventually(() => {
      const e = findEvent('call.ended', (x) => x.callId === started.callId);
      if (!e) throw new Error('call not ended');
      return e;
    });
    expect(ended.at - killedAt).toBeLessThan(KEEPALIVE_MS + KAMAILIO_FR_MS + 3000);
    await eventually(async () => expect(await node.ng.list()).not.toContain(started.callId));
  }, 60_000);
});
