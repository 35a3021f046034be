/**
 * Webhooks end to end: a lab node (real Kamailio, RTPengine, the feature daemon as `pbxctl daemon`
 * runs it) and real HTTP receivers on loopback. An IVR call through the daemon produces signed
 * call.started / call.answered / call.ended deliveries that the receiver verifies with the
 * algorithm docs/webhooks.md documents (and a tampered body fails it); a receiver answering 500
 * gets retries and the delivery lands in the dead-letter list (GET /v1/webhooks/deliveries); the
 * daemon is killed (SIGKILL) with a delivery in flight and after a restart the same webhook-id is
 * delivered.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile, copyFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDaemonSecrets, renderDaemonSecretsFile, resolveDaemonSecrets, secretsVersion } from '../../src/compile/daemon-secrets.js';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { releasePrompts } from '../../src/compile/prompts.js';
import { parseSecretRef, secretResolver } from '../../src/config/secrets.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { DAEMON_COMMAND_MARK, isProcessAlive, startFeatureDaemon, stopProcess, type LabProcess } from '../../src/lab/index.js';
import { describeSipp, startSipp } from '../../src/lab/sipp.js';
import { renderPrompts } from '../../src/media/prompt-render.js';
import { NODE_IP, startLabNode, TRUNK_IP, type LabNode } from './support/lab-node.js';

const SECRET = 'whsec_ZTJlLXdlYmhvb2stc2lnbmluZy1zZWNyZXQtMDEyMzQ1';
const OLD_SECRET = 'whsec_cHJldmlvdXMtc2lnbmluZy1zZWNyZXQtZTJl';

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

/** What `pbxctl apply` ships to the daemon: features.json, secrets.json (0600), prompts; then the daemon reloads. */
async function deploy(): Promise<void> {
  const repo = await mkdtemp(join(tmpdir(), 'pbxctl-webhooks-repo-'));
  const files: Record<string, string> = {
    'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
    'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
    // Digit 5 is invalid: the menu repeats until the caller hangs up.
    'ivrs/main.yaml': 'kind: IVR\nid: main\ngreeting: {text: "Welcome."}\noptions: {"1": "extension:1001"}\ntimeout: 20\nretries: 3\ninvalidDestination: hangup\ntimeoutDestination: hangup\n',
    'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
    'webhooks/hooks.yaml': [
      `kind: Webhook\nid: ok\nurl: ${ok.url}\nevents: [call.started, call.answered, call.ended]\nsecret: \${secret:HOOK_NEW}\npreviousSecret: \${secret:HOOK_OLD}\ntimeout: 5\n`,
      `kind: Webhook\nid: failing\nurl: ${failing.url}\nevents: [call.ended]\nsecret: \${secret:HOOK_NEW}\nmaxAttempts: 3\ntimeout: 5\n`,
      `kind: Webhook\nid: slow\nurl: ${slow.url}\nevents: [call.started]\nsecret: \${secret:HOOK_NEW}\nmaxAttempts: 5\ntimeout: 60\n`,
    ].join('---\n'),
    '.secrets.yaml': `EXT_1001: secret-1001\nHOOK_NEW: ${SECRET}\nHOOK_OLD: ${OLD_SECRET}\n`,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  const r = await validateRepoDir(repo, { strict: true, secretsFile: join(repo, '.secrets.yaml') });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const resolver = secretResolver({}, { EXT_1001: 'secret-1001', HOOK_NEW: SECRET, HOOK_OLD: OLD_SECRET }, { envPrefix: 'X_', file: '.secrets.yaml' });
  const values = resolveDaemonSecrets(r.state!, (text) => resolver.resolve(parseSecretRef(text)!)!);
  const config = compileFeatureConfig(r.state!, { fileHashes: {}, secretsVersion: secretsVersion(values, 'e2e-salt') });
  await mkdir(join(node.root, 'current', 'daemon'), { recursive: true });
  const secretsFile = renderDaemonSecretsFile(buildDaemonSecrets(values, 'e2e-salt'));
  await writeFile(join(node.root, 'current', secretsFile.path), secretsFile.content, { mode: secretsFile.mode });
  await node.writeReleaseFile('daemon/features.json', `${JSON.stringify(config, null, 1)}\n`);
  const rendered = await renderPrompts(releasePrompts(r.state!, config, {}), { repoDir: repo, cacheDir: join(node.workDir, 'prompt-cache') });
  await mkdir(join(node.root, 'current', 'prompts'), { recursive: true });
  for (const p of rendered) await copyFile(p.path, join(node.root, 'current', 'prompts', p.id));
  await node.daemon!.client.reload();
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
  node = await startLabNode('webhooks', { daemon: true });
  token = (await readFile(node.daemon!.tokenFile, 'utf8')).trim();
  const ports = node.allocPorts(3);
  ok = await receiver(ports, () => 204);
  failing = await receiver(ports + 1, () => 500);
  slow = await receiver(ports + 2, async () => {
    while (!releaseSlow) await new Promise((r) => setTimeout(r, 50));
    return 200;
  });
  await deploy();
}, 90_000);

afterAll(async () => {
  releaseSlow = true;
  for (const r of [ok, failing, slow]) {
    r?.server.closeAllConnections();
    await new Promise((res) => r?.server.close(res));
  }
  if (restarted) await stopProcess(restarted.pid, { expectCommand: DAEMON_COMMAND_MARK, group: true });
  await node?.stop();
});

describe('webhooks from the feature daemon (Kamailio + RTPengine + sipp + HTTP receivers)', () => {
  it('an IVR call produces signed call.started / answered / ended deliveries the documented verifier accepts; a tampered body fails it', async () => {
    await ivrCall('wh-ivr');
    const types = await eventually(() => {
      const t = ok.got.map((r) => r.json.type);
      expect(t).toEqual(['call.started', 'call.answered', 'call.ended']);
      return t;
    }, 15_000, 'three deliveries');
    expect(types).toHaveLength(3);
    const callId = ok.got[0]!.json.data.callId;
    expect(typeof callId).toBe('string');
    for (const r of ok.got) {
      expect(r.json.data.callId).toBe(callId);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['webhook-id']).toMatch(/^msg_/);
      // Rotation: signed with the new and the previous secret; either verifies.
      expect(String(r.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(true);
      expect(verifyWebhook(OLD_SECRET, r.headers, r.raw)).toBe(true);
      expect(verifyWebhook('whsec_d3Jvbmctc2VjcmV0', r.headers, r.raw)).toBe(false);
      const tampered = Buffer.from(r.raw.toString('utf8').replace(String(callId), 'forged-call-id'));
      expect(verifyWebhook(SECRET, r.headers, tampered)).toBe(false);
    }
    expect(ok.got[0]!.json.data).toMatchObject({ dialed: '+15550199', destination: 'ivr:main', caller: { number: '+12125550123' } });
    expect(ok.got[2]!.json.data).toMatchObject({ state: 'completed' });
    expect(new Set(ok.got.map((r) => r.headers['webhook-id'])).size).toBe(3);
  }, 60_000);

  it('a receiver answering 500 gets retries with the same webhook-id, then the delivery is in the dead-letter list; retry through the API', async () => {
    // The call of the previous test: call.ended to `failing`, 3 attempts (backoff 5 s, 10 s ceilings).
    const dead = await eventually(async () => {
      const { body } = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?status=dead');
      expect(body.deliveries).toHaveLength(1);
      return body.deliveries[0]!;
    }, 30_000, 'a dead letter');
    expect(dead).toMatchObject({ webhook: 'failing', eventType: 'call.ended', attempts: 3, lastStatus: 500, lastError: 'HTTP 500' });
    expect(failing.got).toHaveLength(3);
    expect(new Set(failing.got.map((r) => r.headers['webhook-id']))).toEqual(new Set([dead.messageId]));
    for (const r of failing.got) expect(verifyWebhook(SECRET, r.headers, r.raw)).toBe(true);
    const retried = await api<{ delivery: DeliveryRow }>('POST', `/v1/webhooks/deliveries/${dead.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body.delivery).toMatchObject({ status: 'pending', attempts: 0 });
    await eventually(() => expect(failing.got).toHaveLength(4), 10_000, 'the manual retry');
    expect(failing.got[3]!.headers['webhook-id']).toBe(dead.messageId);
    expect((await api('GET', '/v1/webhooks/deliveries?status=bogus')).status).toBe(422);
    const metrics = await (await fetch(`http://127.0.0.1:${node.ports.daemonApi}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/pbx_webhook_deliveries_total\{webhook="ok",result="delivered"\} 3/);
    expect(metrics).toMatch(/pbx_webhook_deliveries_total\{webhook="failing",result="dead"\} [12]/);
    expect(metrics).toMatch(/pbx_webhook_delivery_lag_seconds_count\{webhook="ok"\} 3/);
  }, 60_000);

  it('SIGKILL with a delivery in flight: after the restart the same webhook-id is delivered', async () => {
    // `slow` has held the call.started of the first call since it arrived: the delivery is in flight.
    expect(slow.got).toHaveLength(1);
    const held = slow.got[0]!.headers['webhook-id'];
    const pending = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?status=pending&webhook=slow');
    expect(pending.body.deliveries.map((d) => d.messageId)).toEqual([held]);
    const daemon = node.daemon!.process;
    process.kill(daemon.pid, 'SIGKILL');
    await eventually(() => expect(isProcessAlive(daemon.pid)).toBe(false), 5000, 'the daemon to die');
    releaseSlow = true;
    restarted = await startFeatureDaemon({
      root: node.root, sipAddress: NODE_IP, sipPort: node.ports.daemonSip, kamailio: `${NODE_IP}:${node.ports.sip}`, ng: `127.0.0.1:${node.ports.ng}`,
      apiPort: node.ports.daemonApi, tokenFile: node.daemon!.tokenFile, rtpMin: node.ports.daemonRtpMin, rtpMax: node.ports.daemonRtpMax,
      stateDir: join(node.root, 'state', 'daemon'), pidFile: join(node.root, 'run', 'daemon-2.pid'), logFile: join(node.root, 'log', 'daemon.log'),
    }, token);
    await eventually(() => expect(slow.got).toHaveLength(2), 15_000, 'the resumed delivery');
    expect(slow.got[1]!.headers['webhook-id']).toBe(held);
    expect(verifyWebhook(SECRET, slow.got[1]!.headers, slow.got[1]!.raw)).toBe(true);
    // A fresh timestamp per attempt, the same body.
    expect(slow.got[1]!.raw.equals(slow.got[0]!.raw)).toBe(true);
    await eventually(async () => {
      const { body } = await api<{ deliveries: DeliveryRow[] }>('GET', '/v1/webhooks/deliveries?webhook=slow');
      expect(body.deliveries.map((d) => [d.messageId, d.status])).toEqual([[held, 'delivered']]);
    }, 10_000, 'delivered in the outbox');
    // The restarted daemon still takes calls and sends their events.
    await ivrCall('wh-after-restart');
    await eventually(() => expect(ok.got.map((r) => r.json.type)).toHaveLength(6), 15_000, 'deliveries of the second call');
  }, 90_000);
});
