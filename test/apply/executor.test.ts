import { beforeEach, describe, expect, it } from 'vitest';
import { ApplyFailedError, applyNode } from '../../src/apply/executor.js';
import { planFor } from '../../src/apply/prepare.js';
import { ha1 } from '../../src/compile/node-data.js';
import { secretResolver } from '../../src/config/secrets.js';
import { validateSnapshot } from '../../src/config/validate.js';
import type { DesiredState } from '../../src/model/types.js';
import type { Inventory } from '../../src/plan/types.js';
import { FakeNode, fakePrompt } from './fake-node.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"]}\nnodes: [{name: lab, type: local}]\n';
const ext = (n: string, name: string, pw = 'pw') => `kind: Extension\nnumber: "${n}"\nname: ${name}\npassword: \${secret:${pw}}\n`;
const TRUNK = 'kind: Trunk\nid: carrier\nhosts: [{host: 192.0.2.10}, {host: 192.0.2.11, priority: 1}]\nauth: {type: ip, addresses: [198.51.100.0/24]}\n';
const ROUTES = 'kind: OutboundRoute\nid: emergency\npriority: 0\nemergency: true\npatterns: ["911"]\ntrunks: [carrier]\n---\nkind: OutboundRoute\nid: national\npriority: 10\npatterns: ["_NXXNXXXXXX"]\ntrunks: [carrier]\n';
const DID = 'kind: InboundRoute\nid: main\ndids: ["+15555550100"]\ndestination: extension:1001\n';

async function load(files: Record<string, string>, env: Record<string, string> = { PBXCTL_SECRET_PW: 'secret1', PBXCTL_SECRET_PW2: 'secret2' }) {
  const secrets = secretResolver(env, {}, { envPrefix: 'PBXCTL_SECRET_', file: '.secrets.yaml' });
  const repo = Object.entries(files).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) }));
  const r = await validateSnapshot({ files: repo, assets: { read: async () => undefined } }, secrets, { strict: false });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return { state: r.state as DesiredState, secrets };
}

const base = () => ({ 'pbx.yaml': PBX, 'extensions/a.yaml': `${ext('1001', 'Alice')}---\n${ext('1002', 'Bob')}`, 'trunks/c.yaml': TRUNK, 'outbound-routes/r.yaml': ROUTES, 'inbound-routes/m.yaml': DID });

let node: FakeNode;
beforeEach(() => {
  node = new FakeNode();
  // A fresh lab node: an empty release with empty tables, as `pbxctl lab up` leaves it.
  node.links.set('current', 'releases/empty');
});

async function apply(files: Record<string, string>, env?: Record<string, string>) {
  const { state, secrets } = await load(files, env);
  const target = node.target();
  const { plan, desired } = await planFor(target, state, secrets);
  return { plan, result: await applyNode(target, desired, plan, { command: 'test', readPrompt: fakePrompt }) };
}

describe('plan and apply against a node', () => {
  it('creates everything on a fresh node, then has nothing to do', async () => {
    const { plan, result } = await apply(base());
    expect(plan.summary).toEqual({ create: 7, update: 0, delete: 0, replace: 0 }); // pbx, 2 extensions, trunk, 2 routes, DID
    expect(result.outcome).toBe('applied');
    expect(result.reloads.sort()).toEqual(['dispatcher.reload', 'htable.reload auth', 'htable.reload dial', 'htable.reload did', 'htable.reload ext', 'htable.reload outbound', 'htable.reload trunk', 'permissions.addressReload', 'uac.reg_reload']);
    expect(node.htables.get('did')!.get('+15555550100')).toEqual({ value: 't=ext;ext=1001', type: 'str' });
    expect(node.dispatcher.map((d) => `${d.set} ${d.uri} ${d.prio}`)).toEqual(['1 sip:192.0.2.10:5060 2', '1 sip:192.0.2.11:5060 1', '2 sip:192.0.2.10:5060 2', '2 sip:192.0.2.11:5060 1']);
    expect(node.addresses).toEqual([{ grp: 1, ip: '198.51.100.0', mask: 24, port: 0, tag: 'carrier' }]);
    const inv = JSON.parse(node.files.get(`releases/${result.release}/inventory.json`)!.content) as Inventory;
    expect(inv.release).toBe(result.release);
    expect(JSON.stringify(inv.resources)).not.toContain('secret1');
    expect(node.files.get('state/deployments.jsonl')!.content).toContain(`"release":"${result.release}"`);
    expect(node.links.get('current')).toBe(`releases/${result.release}`);

    const before = node.rpc.requests;
    const again = await apply(base());
    expect(again.result.outcome).toBe('noop');
    expect(node.calls.slice(-(node.rpc.requests - before)).filter((c) => c.includes('reload'))).toEqual([]);
  });

  it('shows attribute changes and reloads only what changed', async () => {
    await apply(base());
    const files = base();
    files['extensions/a.yaml'] = `${ext('1001', 'Alice Smith', 'pw2')}---\n${ext('1003', 'Carol')}`;
    const { plan, result } = await apply(files);
    const byId = Object.fromEntries(plan.changes.map((c) => [`${c.action} ${c.kind} ${c.identity}`, c.changes]));
    expect(Object.keys(byId).sort()).toEqual(['create Extension 1003', 'delete Extension 1002', 'update Extension 1001']);
    expect(byId['update Extension 1001']).toEqual([{ path: 'name', before: 'Alice Smith'.replace(' Smith', ''), after: 'Alice Smith' }, { path: 'password', sensitive: true }]);
    expect(result.reloads.sort()).toEqual(['htable.reload auth', 'htable.reload dial', 'htable.reload ext']);
    expect(node.htables.get('auth')!.has('1002')).toBe(false);
    expect(node.htables.get('auth')!.has('1003')).toBe(true);
  });

  it('detects drift made behind its back and restores it', async () => {
    await apply(base());
    node.htables.get('auth')!.set('1001', { value: '0'.repeat(32), type: 'str' });
    node.htables.get('dial')!.set('1999', { value: 't=ext;ext=1999', type: 'str' });
    const { state, secrets } = await load(base());
    const { plan, desired } = await planFor(node.target(), state, secrets);
    const change = plan.changes.find((c) => c.identity === '1001')!;
    expect(change.action).toBe('update');
    expect(change.changes).toEqual([]);
    expect(change.drift).toEqual([{ id: 'htable/auth/1001', sensitive: true }]);
    const text = JSON.stringify(plan);
    expect(text).not.toContain(ha1('1001', 'pbx.example.com', 'secret1'));
    expect(text).not.toContain('0'.repeat(32));
    expect(plan.unmanaged).toEqual([{ id: 'htable/dial/1999', live: 'str:t=ext;ext=1999' }]);
    const result = await applyNode(node.target(), desired, plan, { command: 'test', readPrompt: fakePrompt });
    expect(result.reloads.sort()).toEqual(['htable.reload auth', 'htable.reload dial']);
    expect(node.htables.get('dial')!.has('1999')).toBe(false);
  });

  it('registers a registration trunk through uacreg (0600), and never shows its password', async () => {
    await apply(base());
    const files = { ...base(), 'trunks/r.yaml': 'kind: Trunk\nid: voip\nhosts: [{host: 192.0.2.20, port: 5070, priority: 1}, {host: 192.0.2.21}]\nauth: {type: registration, username: acct, password: "${secret:pw2}", realm: voip.example, expiry: 600}\nnumberFormat: {country: "1", nationalPrefix: "1", outbound: national}\n' };
    const { plan, result } = await apply(files);
    expect(plan.changes.map((c) => `${c.action} ${c.kind} ${c.identity}`)).toEqual(['create Trunk voip']);
    expect(JSON.stringify(plan)).not.toContain('secret2');
    expect(result.reloads.sort()).toEqual(['htable.reload trunk', 'permissions.addressReload', 'uac.reg_reload']);
    const file = node.files.get(`releases/${result.release}/db/uacreg`)!;
    expect(file.mode).toBe(0o600);
    expect(file.content).toContain('1:voip:acct::acct:192.0.2.21:voip.example:acct:secret2::sip\\:192.0.2.21\\:5060:600:0:0::\n');
    expect(node.uacreg).toEqual([expect.objectContaining({ l_uuid: 'voip', r_domain: '192.0.2.21', auth_password: 'secret2', expires: 600 })]);
    // The password changes on the node behind pbxctl's back: drift, shown without any value.
    node.uacreg[0]!.auth_password = 'changed';
    node.uacreg.push({ ...node.uacreg[0]!, l_uuid: 'stray', auth_password: 'stray-secret' });
    const { state, secrets } = await load(files);
    const drifted = await planFor(node.target(), state, secrets);
    expect(drifted.plan.changes.find((c) => c.identity === 'voip')!.drift).toEqual([{ id: 'uacreg/voip', sensitive: true }]);
    expect(drifted.plan.unmanaged).toEqual([{ id: 'uacreg/stray', sensitive: true }]);
    const text = JSON.stringify(drifted.plan);
    expect(text).not.toContain('secret2');
    expect(text).not.toContain('changed');
    expect(text).not.toContain('stray-secret');
    const fixed = await applyNode(node.target(), drifted.desired, drifted.plan, { command: 'test', readPrompt: fakePrompt });
    expect(fixed.reloads).toEqual(['uac.reg_reload']);
    expect(node.uacreg.map((r) => [r.l_uuid, r.auth_password])).toEqual([['voip', 'secret2']]);
  });

  it('refuses a stale plan', async () => {
    await apply(base());
    const { state, secrets } = await load({ ...base(), 'extensions/a.yaml': ext('1001', 'Alice') });
    const { plan, desired } = await planFor(node.target(), state, secrets);
    node.htables.get('ext')!.delete('1002');
    await expect(applyNode(node.target(), desired, plan, { command: 'test', readPrompt: fakePrompt })).rejects.toMatchObject({ code: 'STALE_PLAN' });
  });

  it('rolls back to the previous release when a reload fails', async () => {
    const first = await apply(base());
    const files = { ...base(), 'trunks/c.yaml': TRUNK.replace('198.51.100.0/24', '203.0.113.0/24') };
    node.failOnce.add('permissions.addressReload');
    const err = await apply(files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect((err as Error).message).toContain(`back on release ${first.result.release}`);
    expect(node.links.get('current')).toBe(`releases/${first.result.release}`);
    expect(node.addresses[0]!.ip).toBe('198.51.100.0');
    // The next apply converges.
    const retry = await apply(files);
    expect(retry.result.outcome).toBe('applied');
    expect(node.addresses[0]!.ip).toBe('203.0.113.0');
  });

  it('lets exactly one of two concurrent applies proceed', async () => {
    const { state, secrets } = await load(base());
    const a = await planFor(node.target(), state, secrets);
    const b = await planFor(node.target(), state, secrets);
    const results = await Promise.allSettled([
      applyNode(node.target(), a.desired, a.plan, { command: 'a', readPrompt: fakePrompt }),
      applyNode(node.target(), b.desired, b.plan, { command: 'b', readPrompt: fakePrompt }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'LOCKED', exitCode: 75 });
  });

  it('reads the live state in a bounded number of requests', async () => {
    const many: Record<string, string> = { ...base() };
    many['extensions/many.yaml'] = Array.from({ length: 300 }, (_, i) => ext(String(1100 + i), `User ${i}`)).join('---\n');
    await apply(many);
    const { state, secrets } = await load(many);
    const before = node.rpc.requests;
    await planFor(node.target(), state, secrets);
    expect(node.rpc.requests - before).toBe(10); // 6 htables + dispatcher + 2 permissions dumps + uac.reg_dump
  });

  it('refuses to plan for a node set up for another SIP domain', async () => {
    const { state, secrets } = await load(base());
    const target = { ...node.target(), domain: 'pbx.other.example' };
    await expect(planFor(target, state, secrets)).rejects.toMatchObject({ code: 'DOMAIN_MISMATCH' });
  });

  it('plans node data that a newer pbxctl renders differently, with no attribute changed', async () => {
    await apply(base());
    // Simulate an inventory written by an older pbxctl that rendered 1001's ext entry differently.
    const link = node.links.get('current')!;
    const inv = JSON.parse(node.files.get(`${link}/inventory.json`)!.content) as Inventory;
    const e = inv.entries.find((x) => x.id === 'htable/ext/1001')!;
    e.value = 'str:maxc=3;legacy=1';
    node.files.get(`${link}/inventory.json`)!.content = JSON.stringify(inv);
    node.htables.get('ext')!.set('1001', { value: 'maxc=3;legacy=1', type: 'str' });
    const { state, secrets } = await load(base());
    const { plan } = await planFor(node.target(), state, secrets);
    expect(plan.changes).toEqual([expect.objectContaining({ action: 'update', kind: 'Extension', identity: '1001', changes: [], drift: [], rerendered: 1 })]);
  });
});
