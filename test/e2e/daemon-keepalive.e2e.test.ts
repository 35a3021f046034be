/**
 * Dead calls end (keepalive.ts): the feature daemon with real Kamailio, RTPengine and sipp on
 * loopback, its in-dialog OPTIONS keepalive at 1 s. A caller that vanishes without a BYE (sipp
 * killed with SIGKILL) — waiting in the IVR, or bridged to a phone — is found dead: Kamailio
 * answers the OPTIONS to the dead address 408 after tm's fr_timer (5 s), the daemon ends the
 * call, BYEs the phone and deletes the RTPengine session. Live legs that answer the OPTIONS stay up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { releasePrompts } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { describeSipp, startSipp } from '../../src/lab/sipp.js';
import { renderPrompts } from '../../src/media/prompt-render.js';
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
let daemon: RunningDaemon;
const events: (DaemonEvent & { at: number })[] = [];

beforeAll(async () => {
  node = await startLabNode('daemon-keepalive');
  const repo = await mkdtemp(join(tmpdir(), 'pbxctl-keepalive-repo-'));
  for (const [path, text] of Object.entries(REPO)) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  const r = await validateRepoDir(repo, { strict: false, secretsFile: join(repo, '.secrets.yaml') });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const config = compileFeatureConfig(r.state!, { fileHashes: {} });
  await mkdir(join(node.root, 'current', 'daemon'), { recursive: true });
  await node.writeReleaseFile('daemon/features.json', `${JSON.stringify(config, null, 1)}\n`);
  const rendered = await renderPrompts(releasePrompts(r.state!, config, {}), { repoDir: repo, cacheDir: join(node.workDir, 'prompt-cache') });
  await mkdir(join(node.root, 'current', 'prompts'), { recursive: true });
  for (const p of rendered) await copyFile(p.path, join(node.root, 'current', 'prompts', p.id));
  const did = await node.readReleaseFile('db/pbx_did');
  await node.writeReleaseFile('db/pbx_did', `${did}+15550311:0:0:t=feature;dest=route\\:open-line:0\n`);
  await node.rpc.call('htable.reload', ['did']);
  daemon = await startDaemon({
    root: node.root,
    sipAddress: '127.0.0.1',
    sipPort: node.ports.daemonSip,
    kamailio: { host: '127.0.0.1', port: node.ports.sip },
    ng: { host: '127.0.0.1', port: node.ports.ng },
    apiPort: node.ports.daemonApi,
    token: 'e2e-token-0123456789abcdef',
    rtp: { min: node.ports.daemonRtpMin, max: node.ports.daemonRtpMax },
    stateDir: join(node.workDir, 'daemon-state'),
    keepaliveMs: KEEPALIVE_MS,
  });
  daemon.events.subscribe((e) => events.push({ ...e, at: Date.now() }));
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await node?.stop();
});

async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function findEvent<T extends DaemonEvent['type']>(type: T, pred: (e: Extract<DaemonEvent, { type: T }>) => boolean = () => true) {
  return events.find((e): e is Extract<DaemonEvent, { type: T }> & { at: number } => e.type === type && pred(e as Extract<DaemonEvent, { type: T }>));
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
