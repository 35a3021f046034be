/**
 * `pbxctl calls tail` and the operator commands end to end, with real Kamailio, RTPengine and sipp
 * on loopback and the feature daemon in-process: three calls in progress (an extension-to-extension
 * call Kamailio relays alone, a carrier caller in the IVR, a carrier caller waiting in a queue with
 * no agent), then the built CLI: `calls list --json`, `queues --json`, `registrations --json`, and
 * the terminal UI in a real pseudo-terminal (tmux): the screen shows the three calls with their
 * states, `/` filters, and `h` + `y` hangs the extension call up through Kamailio's dlg.end_dlg.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/daemon/daemon.js';
import { startSipp, type SippRun } from '../../src/lab/sipp.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { pbxctl, ROOT } from '../cli/helpers.js';
import { addHtableRows, deployFeatureRepo, eventually, writeRepo, inProcessDaemonOptions } from './support/feature-repo.js';
import { LAB_DOMAIN, PASSWORDS, PHONE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { finalStatus, register } from './support/phones.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const run = promisify(execFile);
const IVR_DID = '+15550199'; // the fixture's did row: ivr:main
const QUEUE_DID = '+15550420';
const REPO: Record<string, string> = {
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], queues: ["7100-7199"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'extensions/1003.yaml': 'kind: Extension\nnumber: "1003"\nname: Carol\npassword: ${secret:EXT_1003}\n',
  // A long digit timeout: the IVR caller stays in the menu for the whole test.
  'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome."}\noptions: {"1": "extension:1002"}\ntimeout: 60\nretries: 2\ntimeoutDestination: hangup\ninvalidDestination: hangup\n',
  'inbound-routes/main.yaml': `kind: InboundRoute\nid: main\ndids: ["${IVR_DID}"]\ndestination: ivr:main\n`,
  // No agent logs in: the caller waits (joinEmpty) until the test is over.
  'queues/support.yaml': 'kind: Queue\nid: support\nnumber: "7100"\nstrategy: ring-all\nagents: [{extension: "1003"}]\nmaxWait: 300\njoinEmpty: true\nleaveWhenEmpty: false\noverflow: hangup\n',
  'inbound-routes/queue.yaml': `kind: InboundRoute\nid: queue-line\ndids: ["${QUEUE_DID}"]\ndestination: queue:support\n`,
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\nEXT_1003: secret-1003\n',
};

let node: LabNode;
let daemon: RunningDaemon;
let client: DaemonClient;
let daemonOptions: DaemonOptions;
let labDir: string;
let repoDir: string;
const sipps: SippRun[] = [];
/** A private tmux server (its own socket): the test never touches anybody else's tmux. */
const TMUX = ['-L', `pbxctl-e2e-tail-${process.pid}`];
const tmux = (...args: string[]) => run('tmux', [...TMUX, ...args]);
/** The tmux session of the test now running (each test has its own, killed when it ends). */
let session = '';
const screen = async () => (await tmux('capture-pane', '-p', '-t', session)).stdout;
/** Starts `calls tail` in a fresh tmux session of the given size, with extra environment. */
async function startTail(name: string, width: number, height: number, extraEnv = ''): Promise<void> {
  session = name;
  const cmd = `cd ${ROOT} && PBXCTL_LAB_DIR=${labDir} NO_COLOR=1 ${extraEnv} exec ${process.execPath} bin/pbxctl calls tail --target lab`;
  await tmux('new-session', '-d', '-s', name, '-x', String(width), '-y', String(height), cmd);
}
const env = () => ({ PBXCTL_LAB_DIR: labDir });

interface Dialog {
  'call-id': string;
  from_uri: string;
  to_uri: string;
  state: number;
}

beforeAll(async () => {
  node = await startLabNode('calls-tail');
  repoDir = await writeRepo(REPO, 'pbxctl-tail-repo-');
  await deployFeatureRepo(node, repoDir);
  await addHtableRows(node, 'did', [`${QUEUE_DID}:0:0:t=feature;dest=queue\\:support:0`]);
  // 1002's phone answers the unsolicited MWI NOTIFY (RFC 3842) the daemon sends a phone that
  // registered (-aa: 200 to out-of-dialog requests). It registers before the daemon starts, but
  // Kamailio spools the registration event until the daemon connects, so the NOTIFY comes all the
  // same; sipp counts it as a call, hence two.
  const bobPort = node.allocPorts();
  sipps.push(
    await startSipp({
      scenario: 'uas-answer.xml', target: node.sipTarget, workDir: node.workDir, name: 'tail-phone-1002',
      localIp: PHONE_IP, localPort: bobPort, mediaPort: node.allocPorts(4), timeoutSec: 150, calls: 2, extraArgs: ['-aa'],
    }),
  );
  expect(finalStatus(await register(node, '1002', bobPort))).toBe(200);
  const token = 'e2e-token-tail-0123456789';
  // With Kamailio's dialog events (evapi): calls the daemon never sees reach the live view as they start.
  daemonOptions = inProcessDaemonOptions(node, token);
  daemon = await startDaemon(daemonOptions);
  client = new DaemonClient({ host: '127.0.0.1', port: node.ports.daemonApi, token });
  const tokenFile = join(node.workDir, 'daemon.token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  labDir = join(node.workDir, 'lab');
  const info = node.labInfo(LAB_DOMAIN);
  await writeLabInfo(labDir, { ...info, ports: { ...info.ports, daemonSip: node.ports.daemonSip, daemonApi: node.ports.daemonApi }, daemonTokenFile: tokenFile });

  // 1001 calls 1002 (registered above) and stays on the line.
  sipps.push(
    await startSipp({
      scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: 'tail-ext-call',
      localIp: PHONE_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 150,
      service: '1002', durationMs: 140_000, auth: { user: '1001', password: PASSWORDS['1001']! }, keys: { from_user: '1001' },
    }),
  );
  // A carrier caller in the IVR (its digit comes long after the test).
  sipps.push(
    await startSipp({
      scenario: 'uac-ivr.xml', target: node.sipTarget, workDir: node.workDir, name: 'tail-ivr-caller',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 150,
      service: IVR_DID, durationMs: 140_000, keys: { from_user: '+12125550111', dtmf_pcap: '/usr/share/sip-tester/dtmf_2833_1.pcap' },
    }),
  );
  // A carrier caller waiting in the queue.
  sipps.push(
    await startSipp({
      scenario: 'uac-wait-bye.xml', target: node.sipTarget, workDir: node.workDir, name: 'tail-queue-caller',
      localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 150,
      service: QUEUE_DID, durationMs: 1000, keys: { from_user: '+12125550222' },
    }),
  );
  await eventually(async () => {
    const steps = (await client.calls()).map((c) => c.step).sort();
    expect(steps).toEqual(['ivr:main', 'queue:support']);
    const dialogs = await node.rpc.call<Dialog[]>('dlg.list');
    expect(dialogs.some((d) => d.from_uri.includes('1001@') && d.state === 4), JSON.stringify(dialogs.map((d) => [d.from_uri, d.to_uri, d.state]))).toBe(true);
  }, 20_000, 200);
}, 120_000);

afterEach(async () => {
  // A failed test must not leave its terminal running into the next one.
  if (session) await tmux('kill-session', '-t', session).catch(() => undefined);
  session = '';
});

afterAll(async () => {
  await tmux('kill-server').catch(() => undefined);
  for (const s of sipps) await s.stop().catch(() => undefined);
  await daemon?.stop();
  await node?.stop();
});

describe('operator commands against a lab node with three calls', () => {
  it('calls list --json merges daemon calls and Kamailio dialogs with their states, names from the repo', async () => {
    const r = await pbxctl(['calls', 'list', repoDir, '--target', 'lab', '--json'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectMatchesOutputSchema('calls-list', JSON.parse(r.stdout));
    const calls = (JSON.parse(r.stdout) as { calls: { caller: { number: string; name?: string }; callee: { number: string; name?: string }; phase: string; queue?: string; position?: number; step?: string; sources: { daemon: boolean; kamailio: boolean } }[] }).calls;
    expect(calls).toHaveLength(3);
    const ext = calls.find((c) => c.caller.number === '1001')!;
    expect(ext).toMatchObject({ phase: 'answered', caller: { number: '1001', name: 'Alice' }, callee: { number: '1002', name: 'Bob' }, sources: { daemon: false, kamailio: true } });
    const ivr = calls.find((c) => c.caller.number === '+12125550111')!;
    expect(ivr).toMatchObject({ phase: 'ivr', step: 'ivr:main', sources: { daemon: true, kamailio: true } });
    const queued = calls.find((c) => c.caller.number === '+12125550222')!;
    expect(queued).toMatchObject({ phase: 'queued', queue: 'support' });
    // calls tail --once --json: the same calls, one JSON object per line.
    const once = await pbxctl(['calls', 'tail', repoDir, '--target', 'lab', '--once', '--json'], { env: env() });
    expect(once.code, once.stderr).toBe(0);
    const lines = once.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { callId: string });
    for (const l of lines) expectMatchesOutputSchema('call', l);
    expect(lines.map((l) => l.callId).sort()).toEqual((JSON.parse(r.stdout) as { calls: { callId: string }[] }).calls.map((c) => c.callId).sort());
  });

  it('queues --json shows the waiting caller; registrations --json the registered phone', async () => {
    const q = await pbxctl(['queues', '--target', 'lab', '--json'], { env: env() });
    expect(q.code).toBe(0);
    expectMatchesOutputSchema('queues', JSON.parse(q.stdout));
    const support = (JSON.parse(q.stdout) as { queues: { queue: string; waiting: number; callers: { caller: { number: string } }[] }[] }).queues.find((x) => x.queue === 'support')!;
    expect(support.waiting).toBe(1);
    expect(support.callers[0]!.caller.number).toBe('+12125550222');
    const r = await pbxctl(['registrations', '--target', 'lab', '--json'], { env: env() });
    expect(r.code).toBe(0);
    expectMatchesOutputSchema('registrations', JSON.parse(r.stdout));
    const exts = (JSON.parse(r.stdout) as { extensions: { extension: string; contacts: { address: string; expires: number }[] }[] }).extensions;
    const bob = exts.find((e) => e.extension === '1002')!;
    expect(bob.contacts).toHaveLength(1);
    expect(bob.contacts[0]!.address).toContain(PHONE_IP);
    expect(bob.contacts[0]!.expires).toBeGreaterThan(0);
  });

  it('calls tail --json (piped) prints events as JSON lines, with call.media from RTPengine for the answered daemon calls', async () => {
    const child = spawn(process.execPath, ['bin/pbxctl', 'calls', 'tail', '--target', 'lab', '--json'], { cwd: ROOT, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      const media = await eventually(() => {
        const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; callId?: string; packets?: number; seq?: number });
        const m = lines.filter((l) => l.type === 'call.media');
        expect(m.length).toBeGreaterThanOrEqual(2);
        return m;
      }, 15_000, 250);
      const daemonCalls = (await client.calls()).map((c) => c.callId);
      for (const m of media) {
        expect(daemonCalls).toContain(m.callId);
        expect(typeof m.packets).toBe('number');
        expect(typeof m.seq).toBe('number');
      }
      // A new call from 1001 while the stream runs (to 1003, who has no phone): Kamailio's dialog
      // event for it arrives as a JSON line.
      sipps.push(
        await startSipp({
          scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: 'tail-ext-call-2',
          localIp: PHONE_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 20,
          service: '1003', durationMs: 1000, auth: { user: '1001', password: PASSWORDS['1001']! }, keys: { from_user: '1001' },
        }),
      );
      await eventually(() => {
        const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; from?: string; dialed?: string });
        const types = lines.filter((l) => l.from === '1001' && l.dialed === '1003').map((l) => l.type);
        expect(types).toContain('dialog.ended');
      }, 15_000, 250);
      for (const line of out.split('\n').filter(Boolean)) expectMatchesOutputSchema('event', JSON.parse(line));
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('calls tail in a terminal: the three calls, / filter, and h + y hangs the extension call up', async () => {
    // CI=true as a CI runner's shell has it: ink would otherwise draw only its last frame, at exit.
    await startTail('tail-calls', 160, 40, 'CI=true');
    let text = await eventually(async () => {
      const s = await screen();
      expect(s).toMatch(/1001\s+1002\s+answered/);
      expect(s).toMatch(/\+12125550111\s+\+15550199\s+in IVR main/);
      expect(s).toMatch(/\+12125550222\s+\+15550420\s+queued support #1/);
      expect(s).toContain('calls 3  queued 1');
      return s;
    }, 20_000, 250);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(160);

    // Filter to the queue, then to the extension call.
    await tmux('send-keys', '-t', session, '/', 's', 'u', 'p', 'p', 'o', 'r', 't', 'Enter');
    text = await eventually(async () => {
      const s = await screen();
      expect(s).toContain('filter: support');
      expect(s).toMatch(/queued support/);
      expect(s).not.toMatch(/1001\s+1002/);
      return s;
    }, 5000, 200);
    await tmux('send-keys', '-t', session, 'Escape');
    await eventually(async () => expect(await screen()).toMatch(/1001\s+1002\s+answered/), 5000, 200);
    await tmux('send-keys', '-t', session, '/', '1', '0', '0', '1', 'Enter');
    await eventually(async () => {
      const s = await screen();
      expect(s).toMatch(/> 1001\s+1002/);
      expect(s).not.toMatch(/in IVR/);
    }, 5000, 200);

    // Hang it up: the UI asks first, then Kamailio ends the dialog (it is not a daemon call).
    const ext = (await node.rpc.call<Dialog[]>('dlg.list')).find((d) => d.from_uri.includes('1001@') && d.state === 4)!;
    await tmux('send-keys', '-t', session, 'h');
    await eventually(async () => expect(await screen()).toMatch(/Hang up 1001 -> 1002 .*\? y\/N/), 5000, 200);
    await tmux('send-keys', '-t', session, 'y');
    await eventually(async () => expect(await screen()).toContain(`hung up ${ext['call-id']} via kamailio`), 10_000, 200);
    await eventually(async () => {
      const live = (await node.rpc.call<Dialog[]>('dlg.list')).filter((d) => d['call-id'] === ext['call-id'] && d.state < 5);
      expect(live).toEqual([]);
    }, 10_000, 200);
    // The daemon's two calls are untouched.
    expect(await client.calls()).toHaveLength(2);

    await tmux('send-keys', '-t', session, 'q');
    await eventually(async () => {
      const sessions = await tmux('list-sessions').then((r) => r.stdout, () => '');
      expect(sessions).not.toContain(`${session}:`);
    }, 5000, 200);
  });

  it('calls hangup ends a daemon call (the IVR caller) through the daemon', async () => {
    const ivr = (await client.calls()).find((c) => c.step === 'ivr:main')!;
    const r = await pbxctl(['calls', 'hangup', ivr.callId, '--target', 'lab'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('feature daemon');
    await eventually(async () => expect((await client.calls()).map((c) => c.callId)).not.toContain(ivr.callId), 10_000, 200);
    const missing = await pbxctl(['calls', 'hangup', 'no-such-call', '--target', 'lab'], { env: env() });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('CALL_NOT_FOUND');
  });

  it('calls tail shows reconnecting while the daemon restarts, then resumes', async () => {
    await startTail('tail-reconnect', 100, 30);
    await eventually(async () => expect(await screen()).toContain('queued support #1'), 15_000, 250);
    await daemon.stop();
    await eventually(async () => expect(await screen()).toContain('RECONNECTING'), 10_000, 200);
    daemon = await startDaemon(daemonOptions);
    // Back live: the header loses RECONNECTING and the fresh snapshot no longer has the daemon's calls.
    await eventually(async () => {
      const s = await screen();
      expect(s).not.toContain('RECONNECTING');
      expect(s).not.toContain('queued support');
      expect(s).toContain('calls 0  queued 0');
      expect(s).toContain('no calls in progress');
    }, 15_000, 250);
    await tmux('send-keys', '-t', session, 'q');
  });
});
