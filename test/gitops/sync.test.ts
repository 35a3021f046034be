/**
 * sync over real git repos and the in-memory node of the apply tests (test/apply/fake-node.ts):
 * what a cycle does for a new, an unchanged, an invalid and a locked deployment, loops, and two
 * syncs at once. The e2e suite (test/e2e/gitops.e2e.test.ts) runs it against a real lab node.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, releaseLock } from '../../src/apply/lock.js';
import { readInventory } from '../../src/apply/prepare.js';
import { readHistory } from '../../src/gitops/history.js';
import { describeReport, syncLoop, syncOnce, withLocalLock, type SyncOptions } from '../../src/gitops/sync.js';
import { FakeNode } from '../apply/fake-node.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';
import { commitFiles, gitIn, initRepo, tempDir } from './git-fixture.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\n';
const ext = (n: string, name: string) => `kind: Extension\nnumber: "${n}"\nname: ${name}\npassword: \${secret:pw}\n`;

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: string;
let node: FakeNode;
let logs: string[];
let opened: string[];

const opts = (extra: Partial<SyncOptions> = {}): SyncOptions => ({
  repo, ref: 'main', cacheRoot: join(tmp.dir, 'cache'), promptCacheDir: join(tmp.dir, 'prompts'), log: (l) => logs.push(l), color: false, tty: false,
  openTarget: async (name, pbx) => {
    opened.push(`${name ?? '(default)'} ${pbx?.nodes.map((n) => n.name).join(',') ?? 'no pbx.yaml'}`);
    return node.target('lab');
  },
  ...extra,
});

beforeAll(async () => {
  process.env.PBXCTL_SECRET_PW = 'sync-test-password';
  tmp = await tempDir('sync');
  repo = join(tmp.dir, 'repo');
  await mkdir(repo);
  initRepo(repo);
});
afterAll(async () => {
  delete process.env.PBXCTL_SECRET_PW;
  await tmp.cleanup();
});
beforeEach(() => {
  logs = [];
  opened = [];
});

describe('pbxctl sync, one cycle', () => {
  let first: string;
  let second: string;

  it('deploys the ref on a fresh node, recording commit, author, subject and how', async () => {
    node = new FakeNode();
    node.links.set('current', 'releases/empty');
    first = await commitFiles(repo, { 'pbx.yaml': PBX, 'extensions/a.yaml': ext('1001', 'Alice') }, 'First extension', 'Alice Smith <alice@example.com>');
    const r = await syncOnce(opts());
    expect(r, logs.join('\n')).toMatchObject({ outcome: 'applied', commit: first, target: 'lab', summary: { create: 2 } });
    expect(opened).toEqual(['(default) lab']);
    expect((await readInventory(node.target()))?.commit).toBe(first);
    const h = await readHistory(node.target());
    expect(h.deployments[0]).toMatchObject({ current: true, commit: first, author: 'Alice Smith <alice@example.com>', subject: 'First extension', command: expect.stringMatching(/^pbxctl sync .* main$/) });
    expect(logs.join('\n')).toMatch(/\+ extension 1001 "Alice"/);
    expect(logs.join('\n')).toMatch(/apply: verify done/);
    expect(describeReport(r)).toBe(`sync: deployed ${first.slice(0, 12)} to lab as release ${r.release}`);
  });

  it('does nothing when the node already runs the fetched commit', async () => {
    const calls = node.calls.length;
    const r = await syncOnce(opts());
    expect(r).toMatchObject({ outcome: 'up-to-date', commit: first, deployedCommit: first });
    expect(node.calls.slice(calls).filter((c) => c.includes('reload'))).toEqual([]);
    expect((await readHistory(node.target())).deployments).toHaveLength(1);
  });

  it('refuses a commit that fails validation, printing file:line:col, and leaves the node alone', async () => {
    const bad = await commitFiles(repo, { 'extensions/a.yaml': `${ext('1001', 'Alice')}forward: {busy: "extension:1999"}\n` }, 'Broken forward');
    const r = await syncOnce(opts());
    expect(r.outcome).toBe('invalid');
    expect(r.commit).toBe(bad);
    expect(r.error?.code).toBe('INVALID_COMMIT');
    expectMatchesOutputSchema('sync', JSON.parse(JSON.stringify(r)));
    expect(logs.join('\n')).toMatch(/^extensions\/a\.yaml:5:\d+ error unresolved-reference/m);
    expect(describeReport(r)).toMatch(/^sync: REFUSED [0-9a-f]{12}: commit .* fails validation/);
    expect((await readInventory(node.target()))?.commit).toBe(first);
    expect(node.files.has('state/lock.json')).toBe(false);
  });

  it('deploys the next valid commit; the node lock held by another apply fails it with LOCKED', async () => {
    second = await commitFiles(repo, { 'extensions/a.yaml': ext('1001', 'Alice'), 'extensions/b.yaml': ext('1002', 'Bob') }, 'Add Bob', 'Bob Jones <bob@example.com>');
    const lock = await acquireLock(node.target(), 'someone else');
    const locked = await syncOnce(opts());
    expect(locked).toMatchObject({ outcome: 'failed', error: { code: 'LOCKED' } });
    expectMatchesOutputSchema('sync', JSON.parse(JSON.stringify(locked)));
    await releaseLock(node.target(), lock);
    const r = await syncOnce(opts());
    expect(r).toMatchObject({ outcome: 'applied', commit: second, deployedCommit: first, summary: { create: 1, update: 0, delete: 0 } });
    const h = await readHistory(node.target());
    expect(h.deployments.map((d) => d.commit)).toEqual([second, first]);
    expect(h.deployments[0]!.previous).toBe(h.deployments[1]!.release);
  });

  it('reports an unreachable repo as a failed cycle with git\'s reason', async () => {
    const r = await syncOnce(opts({ repo: join(tmp.dir, 'gone') }));
    expect(r).toMatchObject({ outcome: 'failed', error: { code: 'FETCH_FAILED' } });
    expectMatchesOutputSchema('sync', JSON.parse(JSON.stringify(r)));
    expect(r.commit).toBeUndefined();
  });

  it('shows the warnings of a commit it deploys', async () => {
    const routes = await commitFiles(repo, {
      'trunks/c.yaml': 'kind: Trunk\nid: carrier\nhosts: [{host: 192.0.2.10}]\nauth: {type: ip, addresses: [198.51.100.0/24]}\n',
      'outbound-routes/national.yaml': 'kind: OutboundRoute\nid: national\npriority: 10\npatterns: ["_NXXNXXXXXX"]\ntrunks: [carrier]\n',
    }, 'Outbound calls without an emergency route');
    const r = await syncOnce(opts());
    expect(r).toMatchObject({ outcome: 'applied', commit: routes });
    expect(logs.join('\n')).toMatch(/^outbound-routes\/national\.yaml:\d+:\d+ warning no-emergency-route/m);
  });

  it('never takes the node back to an ancestor of what it runs, unless allowOlder', async () => {
    const head = gitIn(repo, ['rev-parse', 'HEAD']);
    gitIn(repo, ['branch', '-f', 'old', 'HEAD~1']);
    const older = gitIn(repo, ['rev-parse', 'old']);
    const r = await syncOnce(opts({ ref: 'old' }));
    expect(r).toMatchObject({ outcome: 'superseded', commit: older, deployedCommit: head });
    expectMatchesOutputSchema('sync', JSON.parse(JSON.stringify(r)));
    expect(describeReport(r)).toBe(`sync: lab runs a newer commit than old (${older.slice(0, 12)}); left as it is`);
    expect((await readInventory(node.target()))?.commit).toBe(head);
    const forced = await syncOnce(opts({ ref: 'old', allowOlder: true }));
    expect(forced).toMatchObject({ outcome: 'applied', commit: older, summary: { delete: 2 } });
    // main again: a descendant of what runs now, so it deploys.
    expect(await syncOnce(opts())).toMatchObject({ outcome: 'applied', commit: head });
  });
});

describe('never two commits at once', () => {
  it('two syncs started together: one deploys, the other waits and finds the node up to date', async () => {
    const third = await commitFiles(repo, { 'extensions/c.yaml': ext('1003', 'Carol') }, 'Add Carol');
    const [a, b] = await Promise.all([syncOnce(opts({ lockTimeoutMs: 20_000 })), syncOnce(opts({ lockTimeoutMs: 20_000 }))]);
    expect([a.outcome, b.outcome].sort()).toEqual(['applied', 'up-to-date']);
    expect(a.commit).toBe(third);
    expect(b.commit).toBe(third);
    expect((await readHistory(node.target())).deployments.filter((d) => d.commit === third)).toHaveLength(1);
  });

  it('the local lock runs holders one after the other and clears a dead holder\'s lock', async () => {
    const file = join(tmp.dir, 'x.lock');
    const order: string[] = [];
    const hold = (n: string) => withLocalLock(file, 5000, async () => {
      order.push(`${n}+`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${n}-`);
    });
    await Promise.all([hold('a'), hold('b')]);
    expect(order.join(' ')).toMatch(/^(a\+ a- b\+ b-|b\+ b- a\+ a-)$/);
    await writeFile(file, JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), since: 'then' }));
    expect(await withLocalLock(file, 0, async () => 'ran')).toBe('ran');
    await writeFile(file, JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }));
    await expect(withLocalLock(file, 0, async () => 'ran')).rejects.toMatchObject({ code: 'SYNC_BUSY' });
  });
});

describe('loop mode', () => {
  it('retries nothing it already refused until the ref moves, and stops when aborted', async () => {
    const bad = await commitFiles(repo, { 'extensions/d.yaml': 'kind: Extension\nnumber: "1004"\n' }, 'Half an extension');
    const stop = new AbortController();
    const seen: string[] = [];
    const cycles = await syncLoop(opts(), 10, stop.signal, (r) => {
      seen.push(`${r.outcome} ${r.commit?.slice(0, 7)}`);
      if (seen.length === 3) stop.abort();
    });
    expect(cycles).toBe(3);
    expect(seen).toEqual([`invalid ${bad.slice(0, 7)}`, `skipped ${bad.slice(0, 7)}`, `skipped ${bad.slice(0, 7)}`]);
    expect(logs.filter((l) => /error/.test(l) && /d\.yaml/.test(l)).length).toBeGreaterThan(0);
  });
});
