/**
 * CDRs end to end with real Kamailio (evapi), RTPengine, sipp and the daemon process (`pbxctl
 * daemon --evapi`, from dist/): a plain extension-to-extension call that never touches the
 * daemon, an IVR call through the daemon bridged to an extension, a busy call and a caller who
 * cancels each give exactly one correct CDR; the daemon is SIGKILLed and restarted between calls
 * and loses none; `pbxctl cdr` lists them (CSV and JSON). Needs dist/ built (the daemon and the CLI run
 * from it: `npx tsc -p tsconfig.json`).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../src/daemon/cdr/cdr-types.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import { startFeatureDaemon, writeDaemonToken, DAEMON_COMMAND_MARK } from '../../src/lab/daemon.js';
import { isProcessAlive, stopProcess, type LabProcess } from '../../src/lab/process.js';
import { describeSipp, startSipp, type SippResult, type SippRun } from '../../src/lab/sipp.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { pbxctl } from '../cli/helpers.js';
import { deployFeatureRepo, eventually as eventuallyEvery, writeRepo } from './support/feature-repo.js';
import { LAB_DOMAIN, PHONE_IP, TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { call, register, finalStatus } from './support/phones.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

/** The IVR of the fixture's DID +15550199 (ivr:main): digit 1 rings extension 1002. */
const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome. For Bob, press 1."}\noptions: {"1": "extension:1002"}\ntimeout: 5\nretries: 0\ntimeoutDestination: hangup\ninvalidDestination: hangup\n',
  'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};

let node: LabNode;
let daemon: LabProcess;
let client: DaemonClient;
let tokenFile: string;
let token: string;
let labDir: string;

function daemonOptions() {
  return {
    root: node.root, sipAddress: '127.0.0.1', sipPort: node.ports.daemonSip, kamailio: `127.0.0.1:${node.ports.sip}`, ng: `127.0.0.1:${node.ports.ng}`,
    apiPort: node.ports.daemonApi, tokenFile, rtpMin: node.ports.daemonRtpMin, rtpMax: node.ports.daemonRtpMax,
    stateDir: join(node.root, 'state', 'daemon'), pidFile: join(node.root, 'run', 'cdr-daemon.pid'), logFile: join(node.root, 'log', 'cdr-daemon.log'),
    evapi: `127.0.0.1:${node.ports.evapi}`,
  };
}

/** Starts `pbxctl daemon --evapi` and waits until its log says the evapi client connected. */
async function startDaemonProcess(): Promise<void> {
  daemon = await startFeatureDaemon(daemonOptions(), token);
  // evapi connects right after start; give it a moment (it retries every 200 ms at first).
  await eventually(async () => {
    const log = await readFile(daemonOptions().logFile, 'utf8');
    expect(log.split('daemon ready').at(-1)).toMatch(/connected to Kamailio evapi/);
  });
}

beforeAll(async () => {
  node = await startLabNode('cdr');
  const repo = await writeRepo(REPO, 'pbxctl-cdr-repo-');
  await deployFeatureRepo(node, repo);
  await rm(repo, { recursive: true, force: true });
  tokenFile = join(node.root, 'etc', 'daemon.token');
  token = await writeDaemonToken(tokenFile);
  client = new DaemonClient({ host: '127.0.0.1', port: node.ports.daemonApi, token });
  await startDaemonProcess();
  labDir = join(node.workDir, 'lab');
  const info = node.labInfo(LAB_DOMAIN);
  await writeLabInfo(labDir, { ...info, ports: { ...info.ports, daemonSip: node.ports.daemonSip, daemonApi: node.ports.daemonApi }, pids: { ...info.pids, daemon: daemon.pid }, daemonTokenFile: tokenFile });
}, 90_000);

afterAll(async () => {
  if (daemon) await stopProcess(daemon.pid, { expectCommand: DAEMON_COMMAND_MARK, group: true });
  await node?.stop();
});

const eventually = <T>(check: () => Promise<T> | T, timeoutMs = 10_000) => eventuallyEvery(check, timeoutMs, 150);

/** Every CDR the daemon has, newest first. */
async function allCdrs(): Promise<Cdr[]> {
  return (await client.cdrs({ limit: 1000 }, 'json')).cdrs;
}

/** The one CDR of `callId` (exactly one, or the check fails). */
async function cdrOf(callId: string, timeoutMs = 15_000): Promise<Cdr> {
  return eventually(async () => {
    const mine = (await allCdrs()).filter((c) => c.callId === callId);
    expect(mine).toHaveLength(1);
    return mine[0]!;
  }, timeoutMs);
}

/** The Call-ID of the (only) call sipp placed, from its first sent message. */
function callIdOf(result: SippResult): string {
  const sent = result.messages.find((m) => m.direction === 'sent');
  const m = sent ? /^Call-ID:\s*(\S+)/im.exec(sent.text) : null;
  if (!m?.[1]) throw new Error(`no Call-ID in the sipp log: ${describeSipp(result)}`);
  return m[1];
}

const written: string[] = [];

/**
 * A registered sipp phone for 1002 running `scenario` (uas-answer.xml, cdr-uas-486.xml,
 * cdr-uas-ring.xml). `-aa` answers NOTIFY/OPTIONS with 200: the daemon sends an unsolicited
 * message-summary NOTIFY (RFC 3842) when a phone registers, which a plain sipp UAS would abort on;
 * sipp counts that NOTIFY as a call, hence `-m 2` (the tests stop the phone themselves).
 */
async function phone(scenario: string): Promise<{ uas: SippRun; port: number; unregister: () => Promise<void> }> {
  const port = node.allocPorts();
  const uas = await startSipp({ scenario, target: node.sipTarget, workDir: node.workDir, name: `cdr-phone-${port}`, localIp: PHONE_IP, localPort: port, mediaPort: node.allocPorts(4), timeoutSec: 40, calls: 2, extraArgs: ['-aa'] });
  const reg = await register(node, '1002', port);
  if (finalStatus(reg) !== 200) {
    await uas.stop();
    throw new Error(`1002 did not register: ${reg.responses.join(' ')}`);
  }
  return { uas, port, unregister: async () => void (await register(node, '1002', port, { expires: 0 })) };
}

/** The daemon's events after `afterSeq`, read from GET /v1/events (server-sent events) for `forMs`. */
async function daemonEvents(afterSeq: number, forMs = 800): Promise<DaemonEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), forMs);
  let text = '';
  try {
    const res = await fetch(`http://127.0.0.1:${node.ports.daemonApi}/v1/events?after=${afterSeq}`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString('utf8');
  } catch {
    // aborted after forMs: what arrived is in `text`
  } finally {
    clearTimeout(timer);
  }
  const events = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as DaemonEvent);
  // What `pbxctl calls tail --json` prints, one per line: schemas/output/event.schema.json.
  for (const e of events) expectMatchesOutputSchema('event', e);
  return events;
}

describe('CDRs (Kamailio evapi + daemon + sipp)', () => {
  it('a plain extension call that never touches the daemon: one answered CDR', async () => {
    const bob = await phone('uas-answer.xml');
    const t0 = Date.now();
    const run = await call(node, '1002', { from: '1001', durationMs: 2000 });
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const callId = callIdOf(result);
    const cdr = await cdrOf(callId);
    expect(cdr).toMatchObject({ direction: 'internal', from: '1001', to: '1002', answeredBy: '1002', disposition: 'answered', path: [] });
    expect(cdr.feature).toBeUndefined();
    expect(cdr.startedAt).toBeGreaterThanOrEqual(t0 - 1000);
    expect(cdr.answeredAt).toBeGreaterThanOrEqual(cdr.startedAt);
    expect(cdr.endedAt - cdr.answeredAt!).toBeGreaterThanOrEqual(1500);
    expect(cdr.billableS).toBeGreaterThanOrEqual(2);
    expect(cdr.billableS).toBeLessThanOrEqual(4);
    written.push(callId);
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('SIGKILL and restart of the daemon between calls loses no CDR', async () => {
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false));
    await startDaemonProcess();
    const ids = (await allCdrs()).map((c) => c.callId);
    for (const id of written) expect(ids).toContain(id);
  }, 60_000);

  it('an IVR call through the daemon, bridged to 1002: one CDR with the path, DID and trunk', async () => {
    const bob = await phone('uas-answer.xml');
    const run = await startSipp({
      scenario: 'uac-ivr.xml', target: node.sipTarget, workDir: node.workDir, name: 'cdr-ivr-caller',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 40,
      service: '+15550199', durationMs: 2500, extraArgs: ['-rtp_echo'],
      keys: { from_user: '+12125550123', dtmf_pcap: '/usr/share/sip-tester/dtmf_2833_1.pcap' },
    });
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const callId = callIdOf(result);
    const cdr = await cdrOf(callId, 20_000);
    expect(cdr).toMatchObject({ direction: 'inbound', from: '+12125550123', to: '+15550199', did: '+15550199', trunk: 'carrier-a', feature: 'ivr:main', answeredBy: '1002', disposition: 'answered' });
    expect(cdr.path.map((s) => s.step)).toEqual(expect.arrayContaining(['ivr:main', 'ivr.digits', 'dial', 'bridged']));
    expect(cdr.path.find((s) => s.step === 'ivr.digits')?.detail.digits).toBe('1');
    // The daemon's leg to 1002 is not a CDR of its own.
    const all = await allCdrs();
    expect(all.filter((c) => c.from === '+12125550123' || c.feature === 'ivr:main')).toHaveLength(1);
    written.push(callId);
    await bob.uas.stop();
    await bob.unregister();
  }, 90_000);

  it('a busy extension: one CDR with disposition busy and status 486', async () => {
    const busy = await phone('cdr-uas-486.xml');
    const run = await call(node, '1002', { from: '1001' });
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const callId = callIdOf(result);
    const cdr = await cdrOf(callId);
    expect(cdr).toMatchObject({ direction: 'internal', from: '1001', to: '1002', disposition: 'busy', sipStatus: 486, billableS: 0 });
    expect(cdr.answeredAt).toBeUndefined();
    written.push(callId);
    await busy.uas.stop();
    await busy.unregister();
  }, 60_000);

  it('a caller who hangs up while it rings: one CDR with disposition canceled', async () => {
    const ringing = await phone('cdr-uas-ring.xml');
    const run = await startSipp({
      scenario: 'cdr-uac-cancel.xml', target: node.sipTarget, workDir: node.workDir, name: 'cdr-uac-cancel',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
      service: '+15550100', durationMs: 1500, keys: { from_user: '+12125550177' },
    });
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const callId = callIdOf(result);
    const cdr = await cdrOf(callId);
    expect(cdr).toMatchObject({ direction: 'inbound', from: '+12125550177', to: '+15550100', did: '+15550100', trunk: 'carrier-a', disposition: 'canceled', sipStatus: 487, billableS: 0 });
    expect(cdr.durationS).toBeGreaterThanOrEqual(1);
    written.push(callId);
    await ringing.uas.stop();
    await ringing.unregister();
  }, 60_000);

  it('a daemon killed during an answered call and restarted before the BYE still writes its CDR with the answer time', async () => {
    const bob = await phone('uas-answer.xml');
    const last = (await daemonEvents(0, 300)).at(-1)?.seq ?? 0;
    const run = await call(node, '1002', { from: '1001', durationMs: 5000 });
    const answered = await eventually(async () => {
      const e = (await daemonEvents(last, 300)).find((x) => x.type === 'dialog.answered' && x.from === '1001');
      if (!e || e.type !== 'dialog.answered') throw new Error('no dialog.answered yet');
      return e;
    });
    // The open call (with its answer time) is on disk: kill the daemon mid-call and bring it back before the BYE.
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false));
    await startDaemonProcess();
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const cdr = await cdrOf(answered.callId);
    expect(answered.answeredAt).toBeDefined();
    expect(cdr).toMatchObject({ disposition: 'answered', from: '1001', to: '1002', answeredBy: '1002', answeredAt: answered.answeredAt });
    expect(cdr.billableS).toBeGreaterThanOrEqual(5);
    expect(cdr.billableS).toBeLessThanOrEqual(7);
    written.push(answered.callId);
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('a call answered while the daemon was down: the end event alone gives start and answer times', async () => {
    const bob = await phone('uas-answer.xml');
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false));
    const t0 = Date.now();
    const run = await call(node, '1002', { from: '1001', durationMs: 8000 });
    // INVITE, 200 and ACK happen with nobody listening on evapi; the daemon is back before the BYE.
    await new Promise((r) => setTimeout(r, 1000));
    await startDaemonProcess();
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    const callId = callIdOf(result);
    const cdr = await cdrOf(callId);
    expect(cdr).toMatchObject({ disposition: 'answered', from: '1001', to: '1002', answeredBy: '1002' });
    expect(cdr.startedAt).toBeGreaterThanOrEqual(t0 - 1000);
    expect(cdr.answeredAt! - cdr.startedAt).toBeLessThan(1000);
    expect(cdr.billableS).toBeGreaterThanOrEqual(8);
    expect(cdr.billableS).toBeLessThanOrEqual(10);
    written.push(callId);
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('calls made and ended while the daemon is down get their CDRs from Kamailio\'s event spool once it is back', async () => {
    const bob = await phone('uas-answer.xml');
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false));
    const t0 = Date.now();
    const answered = await (await call(node, '1002', { from: '1001', durationMs: 2000 })).done;
    expect(answered.exitCode, describeSipp(answered)).toBe(0);
    const t1 = Date.now();
    // Nobody listens on evapi: started, answered and ended wait in the spool (mqueue evspool).
    const spooled = await node.rpc.call<unknown>('mqueue.get_size', ['evspool']);
    expect(JSON.stringify(spooled)).toMatch(/"size":\s*[3-9]/);
    const status = await pbxctl(['status', '--target', 'lab', '--json'], { env: { PBXCTL_LAB_DIR: labDir } });
    expectMatchesOutputSchema('status', JSON.parse(status.stdout));
    expect((JSON.parse(status.stdout) as { eventSpool?: number }).eventSpool).toBeGreaterThanOrEqual(3);
    await startDaemonProcess();
    const cdr = await cdrOf(callIdOf(answered));
    expect(cdr).toMatchObject({ disposition: 'answered', from: '1001', to: '1002', answeredBy: '1002' });
    // Times are Kamailio's (each event carries its own), not the replay's.
    expect(cdr.startedAt).toBeGreaterThanOrEqual(t0 - 1000);
    expect(cdr.endedAt).toBeLessThanOrEqual(t1 + 500);
    expect(cdr.billableS).toBeGreaterThanOrEqual(2);
    expect(cdr.billableS).toBeLessThanOrEqual(3);
    await eventually(async () => expect(JSON.stringify(await node.rpc.call<unknown>('mqueue.get_size', ['evspool']))).toMatch(/"size":\s*0\b/));
    written.push(cdr.callId);
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);

  it('a daemon killed in the middle of an IVR call it handles: the CDR keeps the path it had, from the persisted open call', async () => {
    const t0 = Date.now();
    // Answered by the IVR, audio for 7 s, then the caller's BYE (which the restarted daemon no longer knows: 481).
    const run = await startSipp({
      scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: 'cdr-ivr-kill',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
      service: '+15550199', durationMs: 7000, keys: { from_user: '+12125550166' },
    });
    const callId = await eventually(async () => {
      const c = (await daemonEvents(0, 300)).find((e) => e.type === 'call.step' && e.step === 'ivr:main' && (e as { callId: string }).callId !== undefined && !written.includes((e as { callId: string }).callId) && e.at >= t0);
      if (!c || c.type !== 'call.step') throw new Error('the IVR has not started yet');
      return c.callId;
    });
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false));
    await startDaemonProcess();
    await run.done; // its BYE gets 481 from the new daemon: sipp's own verdict does not matter here
    const cdr = await cdrOf(callId, 20_000);
    expect(cdr).toMatchObject({ direction: 'inbound', from: '+12125550166', did: '+15550199', feature: 'ivr:main', disposition: 'answered', endReason: 'bye' });
    expect(cdr.path.map((p) => p.step)).toContain('ivr:main');
    expect(cdr.billableS).toBeGreaterThanOrEqual(6);
    written.push(callId);
  }, 90_000);

  it('registration events: registered, refreshed, unregistered', async () => {
    const last = (await daemonEvents(0, 300)).at(-1)?.seq ?? 0;
    const port = node.allocPorts();
    expect(finalStatus(await register(node, '1001', port, { expires: 120 }))).toBe(200);
    expect(finalStatus(await register(node, '1001', port, { expires: 120 }))).toBe(200);
    expect(finalStatus(await register(node, '1001', port, { expires: 0 }))).toBe(200);
    const mine = await eventually(async () => {
      const evs = (await daemonEvents(last, 300)).filter((e) => e.type === 'registration.changed' && e.aor === '1001' && e.contact.includes(`:${port}`));
      expect(evs).toHaveLength(3);
      return evs;
    });
    expect(mine.map((e) => e.type === 'registration.changed' && [e.change, e.expires])).toEqual([['registered', 120], ['refreshed', 120], ['unregistered', 0]]);
    expect(mine[0]).toMatchObject({ userAgent: expect.any(String), received: expect.stringMatching(/^127\.0\.0\.2:\d+$/) });
  }, 60_000);

  it('a registration that is not refreshed is reported expired (usrloc timer, within ~10 s of expiry)', async () => {
    const last = (await daemonEvents(0, 300)).at(-1)?.seq ?? 0;
    const port = node.allocPorts();
    // 60 s is registrar's min_expires: the shortest registration Kamailio accepts.
    expect(finalStatus(await register(node, '1001', port, { expires: 60 }))).toBe(200);
    const t0 = Date.now();
    const expired = await eventually(async () => {
      const e = (await daemonEvents(last, 300)).find((x) => x.type === 'registration.changed' && x.change === 'expired' && x.contact.includes(`:${port}`));
      if (!e) throw new Error('no expired event yet');
      return e;
    }, 90_000);
    expect(expired).toMatchObject({ aor: '1001', expires: 0, userAgent: 'pbxctl-e2e' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55_000);
  }, 120_000);

  it('pbxctl cdr lists them: CSV with one row per call, JSON filtered by disposition', async () => {
    const env = { PBXCTL_LAB_DIR: labDir };
    const csv = await pbxctl(['cdr', '--target', 'lab', '--since', '1h', '--format', 'csv'], { env });
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^call_id,direction,from,/);
    for (const id of written) expect(lines.filter((l) => l.startsWith(`${id},`) || l.startsWith(`"${id}"`))).toHaveLength(1);
    expect(lines).toHaveLength(written.length + 1);
    const json = await pbxctl(['cdr', '--target', 'lab', '--disposition', 'busy', '--format', 'json'], { env });
    expect(json.code, json.stderr).toBe(0);
    const busy = JSON.parse(json.stdout) as Cdr[];
    expectMatchesOutputSchema('cdr', busy);
    expect(busy.map((c) => c.disposition)).toEqual(['busy']);
    const table = await pbxctl(['cdr', '--target', 'lab', '--extension', '1002'], { env });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/STARTED \(UTC\)\s+DIR/);
    const for1002 = (await client.cdrs({ extension: '1002' }, 'json')).cdrs;
    expect(for1002.length).toBe(written.length - 1); // all but the IVR call the daemon was killed in
    expectMatchesOutputSchema('cdr', for1002); // the records `cdr --format json` prints, with every kind of call
    expect(table.stdout.trim().split('\n')).toHaveLength(for1002.length + 1);
  }, 60_000);
});
