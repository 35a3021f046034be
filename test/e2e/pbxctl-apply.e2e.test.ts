/**
 * pbxctl plan/apply end to end: a real Kamailio + RTPengine lab node, examples/small-office (its trunk
 * pointed at sipp carriers on loopback), sipp phones. Covers what issue "The main job on one node"
 * asks of apply: phones register and call through the applied data, the plan shows repo changes,
 * a Kamailio killed mid-apply leaves the node on the old release, concurrent applies exclude each other.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ApplyFailedError, applyNode } from '../../src/apply/executor.js';
import { acquireLock, releaseLock } from '../../src/apply/lock.js';
import { planFor } from '../../src/apply/prepare.js';
import { renderNodePrompts } from '../../src/apply/prompts.js';
import { openRepo } from '../../src/config/open-repo.js';
import { startKamailio } from '../../src/lab/kamailio.js';
import { stopProcess } from '../../src/lab/process.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { localTarget } from '../../src/targets/local.js';
import { pbxctl } from '../cli/helpers.js';
import { PHONE_IP, TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { answerer, call, finalStatus, phoneThatAnswers, register } from './support/phones.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const EXAMPLE = new URL('../../examples/small-office/', import.meta.url).pathname;

let node: LabNode;
let tmp: string;
let repo: string;
let labDir: string;
let secretsFile: string;
let pw: Record<string, string>;
let restartedKamailio: number | undefined;

// Prompts render into the test's own cache, not the user's ~/.cache/pbxctl/prompts.
const cli = (args: string[]) => pbxctl(args, { env: { PBXCTL_LAB_DIR: labDir, XDG_CACHE_HOME: join(tmp, 'cache') } });
const common = () => ['--target', 'lab', '--secrets', secretsFile];

beforeAll(async () => {
  node = await startLabNode('pbxctl-apply', { domain: 'pbx.example.com', empty: true });
  tmp = await mkdtemp(join(tmpdir(), 'pbxctl-apply-e2e-'));
  repo = join(tmp, 'repo');
  await cp(EXAMPLE, repo, { recursive: true });
  // The example's carrier becomes a sipp carrier on loopback, and a second trunk (IP-authenticated,
  // another sipp) is added behind it in the national routes, so failover crosses trunks.
  const trunk = join(repo, 'trunks/carrier.yaml');
  const text = await readFile(trunk, 'utf8');
  await writeFile(trunk, text
    .replace('host: sip-east.example.net\n    port: 5060', `host: ${TRUNK_IP}\n    port: ${node.carrierPorts[0]}`)
    .replace(/\n {2}- host: sip-west\.example\.net\n( {4}.*\n)+?(?=auth:)/, '\n'));
  if ((await readFile(trunk, 'utf8')).includes('sip-west')) throw new Error('test setup: the backup SBC was not removed from the carrier trunk');
  await writeFile(join(repo, 'trunks/backup.yaml'), `kind: Trunk\nid: backup\nhosts: [{host: ${TRUNK_IP}, port: ${node.carrierPorts[1]}}]\nauth: {type: ip, addresses: [${TRUNK_IP}/32]}\n`);
  const national = join(repo, 'outbound-routes/national.yaml');
  await writeFile(national, (await readFile(national, 'utf8')).replaceAll('trunks: [carrier]', 'trunks: [carrier, backup]'));
  secretsFile = join(repo, '.secrets.example.yaml');
  pw = parse(await readFile(secretsFile, 'utf8')) as Record<string, string>;
  // The example's carrier is a registration trunk: once applied, uac REGISTERs to its first host,
  // where this file's sipp carriers only expect INVITEs (test/e2e/carrier.e2e.test.ts covers
  // registration). uac.reg_active 0 stops the registrations; challenges would still be answered.
  await node.rpc.call('uac.reg_active', [0]);
  labDir = join(tmp, 'lab');
  await writeLabInfo(labDir, {
    root: node.root, sipAddress: '127.0.0.1', domain: 'pbx.example.com', startedAt: new Date().toISOString(),
    ports: { sip: node.ports.sip, rpc: node.ports.rpc, ng: node.ports.ng, rtpMin: node.ports.rtpMin, rtpMax: node.ports.rtpMax },
    pids: { kamailio: node.kamailio.pid, rtpengine: node.rtpengine.pid },
  });
}, 60_000);

afterAll(async () => {
  if (restartedKamailio) await stopProcess(restartedKamailio, { expectCommand: 'kamailio', group: true });
  await node?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pbxctl apply to a lab node', () => {
  it('applies examples/small-office, then plans no changes', async () => {
    const plan = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('+ extension 300 "Reception"');
    expect(plan.stdout).toMatch(/Plan: 26 to add, 0 to change, 0 to destroy\./);
    const apply = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/apply: verify done/);
    expect(apply.stdout).toMatch(/Applied release \S+ to lab/);
    const again = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(again.stdout).toContain('No changes.');
    expect(again.code).toBe(0);
    const noop = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(noop.code).toBe(0);
    expect(noop.stdout).not.toMatch(/apply: (stage|reload)/);
  });

  it('lets the applied extensions register, refusing a wrong password', async () => {
    expect(finalStatus(await register(node, '300', node.allocPorts(), { password: pw['ext-300-password'] }))).toBe(200);
    expect(finalStatus(await register(node, '320', node.allocPorts(), { password: 'wrong' }))).toBe(401);
    const status = await cli(['status', '--target', 'lab', '--json']);
    const s = JSON.parse(status.stdout);
    expectMatchesOutputSchema('status', s);
    expect(s.configured).toBe(8);
    expect(s.extensions.find((e: { number: string }) => e.number === '300').contacts.length).toBeGreaterThan(0);
  });

  it('connects a call between two extensions, and answers 404 for an unknown number', async () => {
    const callee = await phoneThatAnswers(node, '300', pw['ext-300-password']);
    try {
      const caller = await call(node, '300', { from: '320', password: pw['ext-320-password'] });
      const r = await caller.done;
      expect(r.responses).toContain(200);
      expect(r.successful).toBe(1);
      const uas = await callee.uas.done;
      expect(uas.requests.map((l) => l.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
    } finally {
      await callee.unregister();
    }
    const unknown = await (await call(node, '399', { from: '320', password: pw['ext-320-password'] })).done;
    expect(unknown.responses).toContain(404);
  });

  it('routes a DID only from the trunk address', async () => {
    const owner = await phoneThatAnswers(node, '301', pw['ext-301-password']);
    try {
      const refused = await (await call(node, '12125550101', { fromIp: PHONE_IP, fromUser: '+12125550199' })).done;
      expect(refused.responses).toContain(403);
      const r = await (await call(node, '12125550101', { fromIp: TRUNK_IP })).done;
      expect(r.responses).toContain(200);
    } finally {
      await owner.unregister();
    }
  });

  it('sends an outbound call to the second trunk when the first trunk answers 503', async () => {
    const [a, b] = node.carrierPorts;
    const busy = await answerer(node, TRUNK_IP, a, 'busy', 'carrier-a');
    const ok = await answerer(node, TRUNK_IP, b, 'answer', 'carrier-b');
    const r = await (await call(node, '2125550143', { from: '301', password: pw['ext-301-password'] })).done;
    expect(r.responses).toContain(200);
    // Each trunk gets its own outbound number format: carrier (outbound: national, cc 1, np 1)
    // 12125550143, backup (E.164 by default) +12125550143.
    expect((await busy.done).requests[0]).toMatch(/^INVITE sip:12125550143@/);
    expect((await ok.done).requests[0]).toMatch(/^INVITE sip:\+12125550143@/);
  });

  it('plans and applies repo changes: add, modify, remove an extension and change the trunk', async () => {
    const extFile = join(repo, 'extensions/warehouse.yaml');
    await writeFile(extFile, (await readFile(extFile, 'utf8')).replace('"340"', '"360"').replaceAll('voicemail:340', 'voicemail:360'));
    const sales = join(repo, 'extensions/sales.yaml');
    await writeFile(sales, (await readFile(sales, 'utf8')).replace('maxContacts: 3', 'maxContacts: 1').replace('${secret:ext-320-password}', '${secret:ext-321-password}'));
    const trunk = join(repo, 'trunks/carrier.yaml');
    await writeFile(trunk, (await readFile(trunk, 'utf8')).replace('maxChannels: 4', 'maxChannels: 6'));
    const plan = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('+ extension 360 "Warehouse"');
    expect(plan.stdout).toContain('- extension 340 "Warehouse"');
    expect(plan.stdout).toMatch(/~ extension 320 .*\n(.*\n)*?\s+~ password: \(sensitive\)/);
    expect(plan.stdout).toMatch(/~ trunk carrier[^\n]*\n\s+~ maxChannels: 4 -> 6/);
    const apply = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    // The removed extension has no credentials any more: it is challenged again, never registered.
    expect(finalStatus(await register(node, '340', node.allocPorts(), { password: pw['ext-340-password'] }))).not.toBe(200);
    expect(finalStatus(await register(node, '360', node.allocPorts(), { password: pw['ext-340-password'] }))).toBe(200);
    expect(finalStatus(await register(node, '320', node.allocPorts(), { password: pw['ext-320-password'] }))).toBe(401);
    expect(finalStatus(await register(node, '320', node.allocPorts(), { password: pw['ext-321-password'] }))).toBe(200);
  });

  it('leaves the node on the old release when Kamailio dies mid-apply, and the next apply converges', async () => {
    const conf = join(repo, 'extensions/conference-room.yaml');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('maxContacts: 1', 'maxContacts: 2'));
    const target = localTarget('lab', node.root, node.ports.rpc);
    const before = await target.readLink('current');
    const opened = await openRepo(repo, { secretsFile });
    const { plan, desired } = await planFor(target, opened.state, opened.secrets, { repoDir: repo });
    const prompts = await renderNodePrompts(desired.prompts, { repoDir: repo, cacheDir: join(tmp, 'cache', 'pbxctl', 'prompts') });
    const err = await applyNode(target, desired, plan, {
      command: 'e2e',
      readPrompt: prompts.read,
      onProgress: (step, status) => {
        // The whole service dies (its process group: the main process and every worker).
        if (step === 'reload' && status === 'start') process.kill(-node.kamailio.pid, 'SIGKILL');
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect((err as Error).message).toContain(`back on release ${before!.replace('releases/', '')}`);
    expect(await target.readLink('current')).toBe(before);
    await target.close();
    // Kamailio comes back on the old release; the change is still pending and the next apply makes it.
    const k = await startKamailio({ configFile: join(node.root, 'etc/kamailio.cfg'), runDir: join(node.root, 'run'), pidFile: join(node.root, 'run/kamailio.pid'), logFile: join(node.root, 'log/kamailio.log'), rpcPort: node.ports.rpc });
    restartedKamailio = k.pid;
    const pending = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(pending.code).toBe(2);
    expect(pending.stdout).toMatch(/~ extension 350[^\n]*\n\s+~ maxContacts: 1 -> 2/);
    expect((await cli(['apply', repo, ...common(), '--auto-approve'])).code).toBe(0);
    expect((await cli(['plan', repo, ...common(), '--detailed-exitcode'])).code).toBe(0);
  }, 60_000);

  it('refuses an apply while another holds the lock (exit 75), and lets one of two concurrent applies win', async () => {
    const target = localTarget('lab', node.root, node.ports.rpc);
    const conf = join(repo, 'extensions/conference-room.yaml');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('maxContacts: 2', 'maxContacts: 3'));
    const lock = await acquireLock(target, 'someone else');
    const locked = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(locked.code).toBe(75);
    expect(locked.stderr).toContain('is locked by');
    expect(locked.stderr).toContain(lock.id);
    await releaseLock(target, lock);
    await target.close();
    const [a, b] = await Promise.all([cli(['apply', repo, ...common(), '--auto-approve']), cli(['apply', repo, ...common(), '--auto-approve'])]);
    const applied = [a, b].filter((r) => /Applied release/.test(r.stdout));
    expect(applied).toHaveLength(1);
    const other = applied[0] === a ? b : a;
    // The loser either found the lock taken, or ran after the winner and found nothing to do.
    expect(other.code === 75 || (other.code === 0 && other.stdout.includes('No changes')), other.stdout + other.stderr).toBe(true);
    expect((await cli(['plan', repo, ...common(), '--detailed-exitcode'])).code).toBe(0);
  }, 60_000);
});
