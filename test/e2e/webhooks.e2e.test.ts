/**
 * Webhooks end to end: a lab node (real Kamailio, RTPengine, the feature daemon as `pbxctl daemon`
 * runs it) deployed by the real plan/apply (daemon/secrets.json 0600 included) and real HTTP
 * receivers on loopback. An IVR call through the daemon produces signed call.started /
 * call.answered / call.ended deliveries that the receiver verifies with the algorithm
 * docs/webhooks.md documents (and a tampered body fails it); a secret rotation applied with
 * previousSecret shows in the plan without values and signs the next call's deliveries with both
 * secrets; a receiver answering 500 gets retries and the deliveries land in the dead-letter list
 * (GET /v1/webhooks/deliveries); the daemon is killed (SIGKILL) with deliveries in flight and after
 * a restart the same webhook-ids are delivered.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyNode } from '../../src/apply/executor.js';
import { planFor } from '../../src/apply/prepare.js';
import { renderNodePrompts } from '../../src/apply/prompts.js';
import { openRepo } from '../../src/config/open-repo.js';
import { parseDaemonSecrets } from '../../src/daemon/secrets-types.js';
import { DAEMON_COMMAND_MARK, isProcessAlive, startFeatureDaemon, stopProcess, type LabProcess } from '../../src/lab/index.js';
import { describeSipp, startSipp } from '../../src/lab/sipp.js';
import { localTarget } from '../../src/targets/local.js';
import { NODE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';
import { call, phoneThatAnswers } from './support/phones.js';

/** The first secret, then the one it is rotated to. */
const OLD_SECRET = 'whsec_cHJldmlvdXMtc2lnbmluZy1zZWNyZXQtZTJl';
const SECRET = 'whsec_ZTJlLXdlYmhvb2stc2lnbmluZy1zZWNyZXQtMDEyMzQ1';
const DOMAIN = 'pbx.lab.test';

/** The receiver-side check exactly as docs/webhooks.md shows it (Node example). */
function verifyWebhook(secret: string, headers: IncomingHttpHeaders, rawBody: Buffer, toleranceS = 300): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string') return false;
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) return false;
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const expected = createHmac('sha256', key).update(`${id}.${ts}.`).update(rawBody).digest();
  return sigs.split(' ').some((sig) => {
    const [version, b64] = sig.split(',');
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/** One request a receiver got. */
interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  json: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** An HTTP receiver on 127.0.0.1:port answering with `answer(request)` (a status, or a promise of one). */
async function receiver(port: number, answer: (r: Received) => number | Promise<number>): Promise<{ got: Received[]; server: Server; url: string }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: Received = { headers: req.headers, raw, json: JSON.parse(raw.toString('utf8')) };
      got.push(r);
      void Promise.resolve(answer(r)).then((status) => res.writeHead(status).end());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { got, server, url: `http://127.0.0.1:${port}/hook` };
}

async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let node: LabNode;
let token: string;
let restarted: LabProcess | undefined;
let ok: Awaited<ReturnType<typeof receiver>>;
let failing: Awaited<ReturnType<typeof receiver>>;
let slow: Awaited<ReturnType<typeof receiver>>;
/** The slow receiver holds requests until this is set (then answers 200). */
let releaseSlow = false;

async function api<T>(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${node.ports.daemonApi}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as T };
}

interface DeliveryRow { id: number; webhook: string; messageId: string; eventType: string; status: string; attempts: number; lastStatus?: number; lastError?: string }

let repo: string;

/** The repo: an IVR on a DID from an IP-authenticated carrier, three webhooks (secrets: `secrets`). */
async function writeRepo(secrets: { hookNew: string; hookOld?: string }): Promise<void> {
  const prev = secrets.hookOld ? 'previousSecret: ${secret:HOOK_OLD}\n' : '';
  const files: Record<string, string> = {
    'pbx.yaml': `name: e2e\ndomain: ${DOMAIN}\nnumberPlan: {extensions: ["1000-1999"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\n# No voicemail boxes: their MWI NOTIFYs would reach the sipp phone, which expects only an INVITE.\ndefaults: {timezone: UTC, voicemail: false}\n`,
    'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
    'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
    'trunks/carrier.yaml': `kind: Trunk\nid: carrier\nhosts: [{host: ${TRUNK_IP}, port: ${node.carrierPorts[0]}}]\nauth: {type: ip, addresses: [${TRUNK_IP}/32]}\n`,
    // Digit 5 is invalid: the menu repeats until the caller hangs up.
    'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome."}\noptions: {"1": "extension:1001"}\ntimeout: 20\nretries: 3\ninvalidDestination: hangup\ntimeoutDestination: hangup\n',
    'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
    'webhooks/hooks.yaml': [
      `kind: Webhook\nid: ok\nurl: ${ok.url}\nevents: [call.started, call.answered, call.ended, registration.changed]\nsecret: \${secret:HOOK_NEW}\n${prev}timeout: 5\n`,
      `kind: Webhook\nid: failing\nurl: ${failing.url}\nevents: [call.ended]\nsecret: \${secret:HOOK_NEW}\nmaxAttempts: 3\ntimeout: 5\n`,
      `kind: Webhook\nid: slow\nurl: ${slow.url}\nevents: [call.started]\nsecret: \${secret:HOOK_NEW}\nmaxAttempts: 5\ntimeout: 60\n`,
    ].join('---\n'),
    '.secrets.yaml': `EXT_1001: secret-1001\nEXT_1002: secret-1002\nHOOK_NEW: ${secrets.hookNew}\n${secrets.hookOld ? `HOOK_OLD: ${secrets.hookOld}\n` : ''}`,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
}

/** `pbxctl apply` as a library: plan against the lab node, render prompts, apply (reloads the daemon). */
async function deploy() {
  const target = localTarget('lab', node.root, node.ports.rpc, undefined, DOMAIN, { daemon: node.daemon!.client });
  try {
    const opened = await openRepo(repo, { secretsFile: join(repo, '.secrets.yaml') });
    const { plan, desired } = await planFor(target, opened.state, opened.secrets, { repoDir: repo });
    const prompts = await renderNodePrompts(desired.prompts, { repoDir: repo, cacheDir: join(node.workDir, 'prompt-cache') });
    const result = await applyNode(target, desired, plan, { command: 'e2e', readPrompt: prompts.read });
    return { plan, result };
  } finally {
    await target.close();
  }
}

/** A carrier call to the IVR that presses an invalid digit and hangs up after ~6 s. */
async function ivrCall(name: string): Promise<void> {
  const caller = await startSipp({
    scenario: 'uac-ivr.xml', target: node.sipTarget, workDir: node.workDir, name,
    localIp: TRUNK_IP, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 40,
    service: '+15550199', durationMs: 1500, extraArgs: ['-rtp_echo'],
    keys: { from_user: '+12125550123', dtmf_pcap: '/usr/share/sip-tester/dtmf_2833_5.pcap' },
  });
  const result = await caller.done;
  expect(result.exitCode, `${describeSipp(result)}\n${node.logs(30)}`).toBe(0);
}

beforeAll(async () => {
  node = await startLabNode('webhooks', { domain: DOMAIN, empty: true, daemon: true });
  repo = await mkdtemp(join(tmpdir(), 'pbxctl-webhooks-repo-'));
  token = (await readFile(node.daemon!.tokenFile, 'utf8')).trim();
  const ports = node.allocPorts(3);
  ok = await receiver(ports, () => 204);
  failing = await receiver(ports + 1, () => 500);
  slow = await receiver(ports + 2, async () => {
    while (!releaseSlow) await new Promise((r) => setTimeout(r, 50));
    return 200;
  });
  await writeRepo({ hookNew: OLD_SECRET });
  const { result } = await deploy();
  expect(result.outcome).toBe('applied');
  // The secrets document reached the release, readable by its owner only.
  const file = join(node.root, 'current', 'daemon', 'secrets.json');
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect(parseDaemonSecrets(JSON.parse(await readFile(file, 'utf8'))).webhooks).toEqual({ ok: [OLD_SECRET], failing: [OLD_SECRET], slow: [OLD_SECRET] });
}, 120_000);

afterAll(async () => {
  releaseSlow = true;
  for (const r of [ok, failing, slow]) {
    r?.server.closeAllConnections();
    await new Promise((res) => r?.server.close(res));
  }
  if (restarted) await stopProcess(restarted.pid, { expectCommand: DAEMON_COMMAND_MARK, group: true });
  await node?.stop();
});

const sigCount = (r: Received) => String(r.headers['webhook-signature']).split(' ').length;

describe('webhooks from the feature daemon (plan/apply, Kamailio + RTPengine + sipp + HTTP receivers)', () => {
  it('an IVR call produces signed call.started / answered / ended deliveries the documented verifier accepts; a tampered body fails it', async () => {
    await ivrCall('wh-ivr');
    await eventually(() => expect(ok.got.map((r) => r.json.type)).toEqual(['call.started', 'call.answered', 'call.ended']), 15_000, 'three deliveries');
    const callId = ok.got[0]!.json.data.callId;
    expect(typeof callId).toBe('string');
    for (const r of ok.got) {
      expect(r.json.data.callId).toBe(callId);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['webhook-id']).toMatch(/^msg_/);
      expect(sigCount(r)).toBe(1);
      expect(verifyWebhook(OLD_SECRET, r.headers, r.raw)).toBe(true);
      expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(false);
      const tampered = Buffer.from(r.raw.toString('utf8').replace(String(callId), 'forged-call-id'));
      expect(verifyWebhook(OLD_SECRET, r.headers, tampered)).toBe(false);
    }
    expect(ok.got[0]!.json.data).toMatchObject({ dialed: '+15550199', destination: 'ivr:main', caller: { number: '+12125550123' } });
    expect(ok.got[2]!.json.data).toMatchObject({ state: 'completed' });
    expect(new Set(ok.got.map((r) => r.headers['webhook-id'])).size).toBe(3);
  }, 60_000);

  it('a rotation applied with previousSecret: the plan shows no secret, the daemon reloads, the next call is signed with both secrets', async () => {
    await writeRepo({ hookNew: SECRET, hookOld: OLD_SECRET });
    const { plan, result } = await deploy();
    expect(plan.changes.map((c) => `${c.action} ${c.kind} ${c.identity}`)).toEqual(expect.arrayContaining(['update Webhook ok', 'update Webhook failing', 'update Webhook slow']));
    const text = JSON.stringify(plan);
    for (const secret of [SECRET, OLD_SECRET, SECRET.slice(6), OLD_SECRET.slice(6)]) expect(text).not.toContain(secret);
    expect(result.reloads.some((r) => r.startsWith('daemon.reload'))).toBe(true);
    const doc = parseDaemonSecrets(JSON.parse(await readFile(join(node.root, 'current', 'daemon', 'secrets.json'), 'utf8')));
    expect(doc.webhooks.ok).toEqual([SECRET, OLD_SECRET]);
    await ivrCall('wh-ivr-rotated');
    await eventually(() => expect(ok.got).toHaveLength(6), 15_000, 'the second call\'s deliveries');
    for (const r of ok.got.slice(3)) {
      expect(sigCount(r)).toBe(2);
      expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(true);
      expect(verifyWebhook(OLD_SECRET, r.headers, r.raw)).toBe(true);
      expect(verifyWebhook(SECRET, r.headers, Buffer.concat([r.raw, Buffer.from(' ')]))).toBe(false);
    }
  }, 90_000);

  it('a receiver answering 500 gets retries with the same webhook-id, then the deliveries are in the dead-letter list; retry through the API', async () => {
    // Both calls' call.ended to `failing`: 3 attempts each (backoff ceilings 5 s, 10 s).
    const dead = await eventually(async () => {
      const { body } = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?status=dead');
      expect(body.deliveries).toHaveLength(2);
      return body.deliveries;
    }, 45_000, 'two dead letters');
    for (const d of dead) {
      expect(d).toMatchObject({ webhook: 'failing', eventType: 'call.ended', attempts: 3, lastStatus: 500, lastError: 'HTTP 500' });
      const attempts = failing.got.filter((r) => r.headers['webhook-id'] === d.messageId);
      expect(attempts).toHaveLength(3);
      // Signed at each attempt with the secrets live then (before or after the rotation).
      for (const r of attempts) expect(verifyWebhook(SECRET, r.headers, r.raw) || verifyWebhook(OLD_SECRET, r.headers, r.raw)).toBe(true);
    }
    expect(failing.got).toHaveLength(6);
    const retried = await api<{ delivery: DeliveryRow }>('POST', `/v1/webhooks/deliveries/${dead[0]!.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body.delivery).toMatchObject({ status: 'pending', attempts: 0 });
    await eventually(() => expect(failing.got).toHaveLength(7), 10_000, 'the manual retry');
    expect(failing.got[6]!.headers['webhook-id']).toBe(dead[0]!.messageId);
    expect(verifyWebhook(SECRET, failing.got[6]!.headers, failing.got[6]!.raw)).toBe(true);
    expect((await api('GET', '/v1/webhooks/deliveries?status=bogus')).status).toBe(422);
    const metrics = await (await fetch(`http://127.0.0.1:${node.ports.daemonApi}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/pbx_webhook_deliveries_total\{webhook="ok",result="delivered"\} 6/);
    expect(metrics).toMatch(/pbx_webhook_deliveries_total\{webhook="failing",result="dead"\} 2/);
    expect(metrics).toMatch(/pbx_webhook_delivery_lag_seconds_count\{webhook="ok"\} 6/);
  }, 90_000);

  it('SIGKILL with deliveries in flight: after the restart the same webhook-ids are delivered', async () => {
    // `slow` has held both calls' call.started since they arrived: two deliveries in flight.
    expect(slow.got).toHaveLength(2);
    const held = new Set(slow.got.map((r) => r.headers['webhook-id']));
    expect(held.size).toBe(2);
    const pending = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?status=pending&webhook=slow');
    expect(new Set(pending.body.deliveries.map((d) => d.messageId))).toEqual(held);
    const daemon = node.daemon!.process;
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false), 5000, 'the daemon to die');
    releaseSlow = true;
    restarted = await startFeatureDaemon({
      root: node.root, sipAddress: NODE_IP, sipPort: node.ports.daemonSip, kamailio: `${NODE_IP}:${node.ports.sip}`, ng: `127.0.0.1:${node.ports.ng}`,
      apiPort: node.ports.daemonApi, tokenFile: node.daemon!.tokenFile, rtpMin: node.ports.daemonRtpMin, rtpMax: node.ports.daemonRtpMax,
      stateDir: join(node.root, 'state', 'daemon'), pidFile: join(node.root, 'run', 'daemon-2.pid'), logFile: join(node.root, 'log', 'daemon.log'),
      // From now on with Kamailio's events (evapi): plain calls and registrations (next test).
      evapi: `127.0.0.1:${node.ports.evapi}`,
    }, token);
    await eventually(() => expect(slow.got).toHaveLength(4), 15_000, 'the resumed deliveries');
    const resent = slow.got.slice(2);
    expect(new Set(resent.map((r) => r.headers['webhook-id']))).toEqual(held);
    for (const r of resent) {
      expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(true);
      // The same body as before the kill; a fresh timestamp and signature.
      const before = slow.got.find((x) => x.headers['webhook-id'] === r.headers['webhook-id'])!;
      expect(r.raw.equals(before.raw)).toBe(true);
    }
    await eventually(async () => {
      const { body } = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?webhook=slow');
      expect(body.deliveries.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    }, 10_000, 'delivered in the outbox');
    // The restarted daemon still takes calls and sends their events.
    await ivrCall('wh-after-restart');
    await eventually(() => expect(ok.got).toHaveLength(9), 15_000, 'deliveries of the third call');
  }, 90_000);

  it('a plain extension call that never touches the daemon (Kamailio evapi) and the phone registration give webhooks too', async () => {
    await eventually(async () => expect(await readFile(join(node.root, 'log', 'daemon.log'), 'utf8')).toMatch(/connected to Kamailio evapi/), 10_000, 'the evapi connection');
    const before = ok.got.length;
    const bob = await phoneThatAnswers(node, '1002');
    const run = await call(node, '1002', { from: '1001', durationMs: 1500 });
    const result = await run.done;
    expect(result.exitCode, describeSipp(result)).toBe(0);
    await eventually(() => {
      const got = ok.got.slice(before).map((r) => r.json);
      expect(got.map((j) => j.type), JSON.stringify(got)).toEqual(expect.arrayContaining(['registration.changed', 'call.started', 'call.answered', 'call.ended']));
    }, 15_000, 'the plain call\'s deliveries');
    const mine = ok.got.slice(before);
    const reg = mine.find((r) => r.json.type === 'registration.changed')!;
    expect(reg.json.data).toMatchObject({ aor: '1002', change: 'registered' });
    const started = mine.find((r) => r.json.type === 'call.started')!;
    expect(started.json.data).toMatchObject({ direction: 'internal', from: '1001', dialed: '1002' });
    // One delivery per call event, whoever reported it; all signed.
    const callEvents = mine.filter((r) => r.json.type.startsWith('call.') && r.json.data.callId === started.json.data.callId);
    expect(callEvents.map((r) => r.json.type)).toEqual(['call.started', 'call.answered', 'call.ended']);
    for (const r of mine) expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(true);
    await bob.uas.stop();
    await bob.unregister();
  }, 60_000);
});
