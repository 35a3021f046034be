/**
 * Plan and apply on a node with a feature daemon: the config's records are live state read from the
 * daemon, daemon/features.json and prompts ship with every release, the daemon reloads after
 * Kamailio, and a daemon that fails sends the node back to the previous release.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApplyFailedError, applyNode } from '../../src/apply/executor.js';
import { planFor } from '../../src/apply/prepare.js';
import { featureEntryHashes } from '../../src/compile/feature-entries.js';
import { renderReleaseFiles } from '../../src/compile/release-files.js';
import { secretResolver } from '../../src/config/secrets.js';
import { validateSnapshot } from '../../src/config/validate.js';
import type { DesiredState } from '../../src/model/types.js';
import type { Inventory } from '../../src/plan/types.js';
import { renderPlanText } from '../../src/render/plan.js';
import { FakeNode, fakePrompt } from './fake-node.js';
import { constantWav } from '../support/wav.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\n';
const EXT = 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:pw}\n';
const ivr = (greeting: string) => `kind: IVR\nid: main\nnumber: "7000"\ngreeting: ${greeting}\noptions: {"1": "extension:1001"}\n`;
const DID = 'kind: InboundRoute\nid: main\ndids: ["+15555550100"]\ndestination: ivr:main\n';


let node: FakeNode;
let repoDir: string;
beforeEach(async () => {
  node = new FakeNode();
  // What `pbxctl lab up` leaves: an empty release with empty tables and no daemon/features.json.
  for (const f of renderReleaseFiles([])) node.files.set(`releases/empty/${f.path}`, { content: f.content, mtimeMs: 0 });
  node.links.set('current', 'releases/empty');
  repoDir = await mkdtemp(join(tmpdir(), 'pbxctl-daemon-apply-'));
});
afterEach(async () => {
  await rm(repoDir, { recursive: true, force: true });
});

/** Validates the repo (also written to repoDir, where plan reads audio files from). */
async function load(files: Record<string, string | Uint8Array>): Promise<DesiredState> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(repoDir, path, '..'), { recursive: true });
    await writeFile(join(repoDir, path), content);
  }
  const secrets = secretResolver({ PBXCTL_SECRET_PW: 'secret1' }, {}, { envPrefix: 'PBXCTL_SECRET_', file: '.secrets.yaml' });
  const bytes = (c: string | Uint8Array) => (typeof c === 'string' ? new TextEncoder().encode(c) : c);
  const repo = Object.entries(files).filter(([p]) => p.endsWith('.yaml')).map(([path, c]) => ({ path, bytes: bytes(c) }));
  const r = await validateSnapshot({ files: repo, assets: { read: async (p) => (files[p] === undefined ? undefined : bytes(files[p])) } }, secrets, { strict: false });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.state as DesiredState;
}

const repo = (greeting = '{text: "Welcome to t."}', extra: Record<string, string | Uint8Array> = {}) => ({ 'pbx.yaml': PBX, 'extensions/a.yaml': EXT, 'ivrs/main.yaml': ivr(greeting), 'inbound-routes/main.yaml': DID, ...extra });

async function plan(files: Record<string, string | Uint8Array>) {
  const state = await load(files);
  const secrets = secretResolver({ PBXCTL_SECRET_PW: 'secret1' }, {}, { envPrefix: 'PBXCTL_SECRET_', file: '.secrets.yaml' });
  return planFor(node.target(), state, secrets, { repoDir });
}

async function apply(files: Record<string, string | Uint8Array>) {
  const p = await plan(files);
  return { ...p, result: await applyNode(node.target(), p.desired, p.plan, { command: 'test', readPrompt: fakePrompt }) };
}

const currentInventory = () => JSON.parse(node.files.get(`${node.links.get('current')}/inventory.json`)!.content) as Inventory;

describe('a node with a feature daemon', () => {
  it('ships the config and prompts, reloads the daemon after Kamailio, then has nothing to do', async () => {
    const daemon = node.addDaemon();
    const { desired, result } = await apply(repo());
    expect(desired.entries.filter((e) => e.id.startsWith('feature/')).map((e) => e.id)).toContain('feature/ivr/main');
    // The daemon reloads once, after every Kamailio reload.
    const reloads = node.calls.filter((c) => c.includes('reload'));
    expect(reloads.at(-1)).toBe('daemon.reload');
    expect(reloads.filter((c) => c === 'daemon.reload')).toHaveLength(1);
    expect(result.reloads.at(-1)).toBe(`daemon.reload ${desired.featureConfig.version}`);
    expect(daemon.entries).toEqual(Object.fromEntries(featureEntryHashes(desired.featureConfig)));

    const dir = `releases/${result.release}`;
    const config = JSON.parse(node.files.get(`${dir}/daemon/features.json`)!.content) as { version: string; ivrs: Record<string, { greeting: string }> };
    expect(config.version).toBe(desired.featureConfig.version);
    expect(node.files.get(`${dir}/daemon/features.json`)!.content).toMatch(/^\{\n {2}"formatVersion": 1,[\s\S]*\n\}\n$/);
    const greeting = config.ivrs.main!.greeting;
    expect(desired.prompts.map((p) => p.id)).toContain(greeting);
    expect(node.files.get(`${dir}/prompts/${greeting}`)!.bytes!.toString()).toBe(`RIFF fake audio of ${greeting}`);
    const inv = currentInventory();
    expect(Object.keys(inv.files)).toEqual(expect.arrayContaining(['daemon/features.json', `prompts/${greeting}`]));
    expect(inv.entries.map((e) => e.id)).toContain('feature/ivr/main');

    const again = await apply(repo());
    expect(again.result.outcome).toBe('noop');
    expect(daemon.reloads).toBe(1);
  });

  it('plans ~ ivr main when only its prompt text changes, and reloads only the daemon', async () => {
    node.addDaemon();
    const first = await apply(repo());
    const { plan: p, result } = await apply(repo('{text: "Welcome to t, now with more options."}'));
    expect(p.changes.map((c) => `${c.action} ${c.kind}/${c.identity}`)).toEqual(['update IVR/main']);
    expect(p.changes[0]!.changes).toEqual([{ path: 'greeting.text', before: 'Welcome to t.', after: 'Welcome to t, now with more options.' }]);
    expect(renderPlanText(p, { color: false })).toContain('~ ivr main');
    expect(result.reloads).toEqual([expect.stringMatching(/^daemon\.reload /)]);
    expect(result.previous).toBe(first.result.release);
  });

  it('plans ~ ivr main when a greeting file is re-recorded under the same name', async () => {
    node.addDaemon();
    await apply(repo('{file: prompts/hello.wav}', { 'prompts/hello.wav': constantWav(100) }));
    const { plan: p, desired, result } = await apply(repo('{file: prompts/hello.wav}', { 'prompts/hello.wav': constantWav(200) }));
    expect(p.changes.map((c) => `${c.action} ${c.kind}/${c.identity}`)).toEqual(['update IVR/main']);
    expect(p.changes[0]!.changes).toEqual([{ path: 'audioFiles', before: [expect.stringMatching(/^prompts\/hello\.wav sha256:[0-9a-f]{12}$/)], after: [expect.stringMatching(/^prompts\/hello\.wav sha256:[0-9a-f]{12}$/)] }]);
    expect(result.reloads).toEqual([expect.stringMatching(/^daemon\.reload /)]);
    const greeting = desired.featureConfig.ivrs.main!.greeting;
    expect(greeting).toMatch(/^file-/);
    expect(node.files.has(`releases/${result.release}/prompts/${greeting}`)).toBe(true);
  });

  it('shows a daemon running another config as drift and reloads it', async () => {
    const daemon = node.addDaemon();
    await apply(repo());
    daemon.entries['feature/ivr/main'] = 'sha:0000000000000000';
    delete daemon.entries['feature/extension/1001'];
    const { plan: p, result } = await apply(repo());
    const ivrChange = p.changes.find((c) => c.kind === 'IVR')!;
    expect(ivrChange.drift).toEqual([{ id: 'feature/ivr/main', expected: expect.stringMatching(/^sha:/), live: 'sha:0000000000000000' }]);
    expect(p.changes.find((c) => c.kind === 'Extension')!.drift).toEqual([{ id: 'feature/extension/1001', expected: expect.stringMatching(/^sha:/) }]);
    expect(result.reloads).toEqual([expect.stringMatching(/^daemon\.reload /)]);
    expect((await plan(repo())).plan.changes).toEqual([]);
  });

  it('rolls back to the previous release when the daemon refuses the new config', async () => {
    const daemon = node.addDaemon();
    const first = await apply(repo());
    const before = { ...daemon.entries };
    daemon.failNextReload = true;
    const files = repo('{text: "Changed."}', { 'extensions/a.yaml': `${EXT}maxContacts: 2\n` });
    const callsBefore = node.calls.length;
    const err = await apply(files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect((err as Error).message).toMatch(/at step "reload": the feature daemon refused the new config/);
    expect((err as Error).message).toContain(`back on release ${first.result.release}.`);
    expect(node.links.get('current')).toBe(`releases/${first.result.release}`);
    expect(daemon.entries).toEqual(before);
    // Kamailio's changed table, then the daemon (which failed); the rollback reloads both again, in that order.
    expect(node.calls.slice(callsBefore).filter((c) => c.includes('reload'))).toEqual(['htable.reload ext', 'daemon.reload', 'htable.reload ext', 'daemon.reload']);
    expect(daemon.reloads).toBe(2);
    // The next apply converges.
    expect((await apply(files)).result.outcome).toBe('applied');
    expect(daemon.entries['feature/ivr/main']).not.toBe(before['feature/ivr/main']);
  });

  it('rolls back to a release without a feature config (a fresh lab node) without reloading the daemon', async () => {
    const daemon = node.addDaemon();
    daemon.failNextReload = true;
    const err = await apply(repo()).catch((e: unknown) => e);
    expect((err as Error).message).toContain('back on release empty.');
    expect(node.links.get('current')).toBe('releases/empty');
    expect(node.calls.filter((c) => c === 'daemon.reload')).toHaveLength(1);
  });

  it('says so when verify fails and the release switched back to has no feature config for the daemon', async () => {
    const daemon = node.addDaemon();
    daemon.misreport = 'feature/ivr/main';
    const err = await apply(repo()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect((err as Error).message).toMatch(/at step "verify": the node does not show the new state: feature\/ivr\/main is different/);
    expect((err as Error).message).toContain('back on release empty, but: the files are back on empty but the feature daemon still runs the failed release\'s config (release empty has no daemon/features.json to go back to)');
    expect(node.links.get('current')).toBe('releases/empty');
  });

  it('fails the plan with DAEMON_UNREACHABLE when the daemon does not answer', async () => {
    node.addDaemon().down = true;
    const err = (await plan(repo()).catch((e: unknown) => e)) as { code: string; hint: string };
    expect(err.code).toBe('DAEMON_UNREACHABLE');
    expect(err.hint).toMatch(/pbxctl lab up/);
  });

  it('refuses to stage a release whose prompts were not rendered, writing nothing', async () => {
    node.addDaemon();
    const p = await plan(repo());
    await expect(applyNode(node.target(), p.desired, p.plan, { command: 'test' })).rejects.toMatchObject({ code: 'PROMPTS_NOT_RENDERED' });
    expect([...node.files.keys()].filter((k) => k.startsWith('releases/') && !k.startsWith('releases/empty/'))).toEqual([]);
    expect(node.files.has('state/lock.json')).toBe(false);
  });
});

describe('a node without a feature daemon', () => {
  it('gets no feature entries but still ships the config and prompts', async () => {
    const { plan: p, desired, result } = await apply(repo());
    expect(desired.entries.some((e) => e.id.startsWith('feature/'))).toBe(false);
    expect(p.summary).toEqual({ create: 4, update: 0, delete: 0, replace: 0 });
    expect(result.reloads.some((r) => r.startsWith('daemon'))).toBe(false);
    expect(node.calls.some((c) => c.startsWith('daemon'))).toBe(false);
    expect(node.files.has(`releases/${result.release}/daemon/features.json`)).toBe(true);
    expect(desired.prompts.every((s) => node.files.has(`releases/${result.release}/prompts/${s.id}`))).toBe(true);
    // A changed prompt text is still a resource change (the next daemon to start needs it).
    const changed = await apply(repo('{text: "Changed."}'));
    expect(changed.plan.changes.map((c) => `${c.action} ${c.kind}/${c.identity}`)).toEqual(['update IVR/main']);
    expect(changed.result.reloads).toEqual([]);
  });
});
