/** watch: the debounced chokidar loop on a real directory, and one validate/plan cycle. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoredPath, isLabTarget, watchCycle, watchRepo } from '../../src/gitops/watch.js';
import { FakeNode } from '../apply/fake-node.js';
import { tempDir, writeFiles } from './git-fixture.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\n';
const ext = (n: string, name: string) => `kind: Extension\nnumber: "${n}"\nname: ${name}\npassword: \${secret:pw}\n`;

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('watch');
});
afterAll(() => tmp.cleanup());

/** Resolves when `pred` holds, polling every 20 ms; rejects after `ms`. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('watchRepo', () => {
  it('runs one cycle per burst of saves, after the debounce, never two at once; ignores dot-files', async () => {
    const dir = join(tmp.dir, 'loop');
    await mkdir(dir);
    await writeFiles(dir, { 'pbx.yaml': PBX });
    const cycles: string[][] = [];
    let running = 0;
    let overlapped = false;
    const w = watchRepo(dir, async (changed) => {
      if (++running > 1) overlapped = true;
      cycles.push(changed);
      await new Promise((r) => setTimeout(r, 150));
      running--;
    }, { debounceMs: 100, initial: true });
    try {
      await w.ready;
      await until(() => cycles.length === 1 && running === 0, 5000, 'the initial cycle');
      expect(cycles[0]).toEqual(['.']);
      // A burst: three saves within the debounce make one cycle.
      await writeFile(join(dir, 'pbx.yaml'), `${PBX}# 1\n`);
      await mkdir(join(dir, 'extensions'));
      await writeFile(join(dir, 'extensions', 'a.yaml'), ext('1001', 'Alice'));
      await until(() => cycles.length >= 2, 5000, 'a cycle after the burst');
      // A save during that cycle: exactly one more cycle after it, not an overlapping one.
      await writeFile(join(dir, 'extensions', 'a.yaml'), ext('1001', 'Alicia'));
      await until(() => cycles.length >= 3 && running === 0, 5000, 'the cycle after the save during a cycle');
      await writeFile(join(dir, '.secrets.yaml'), 'pw: x\n');
      await mkdir(join(dir, '.git'));
      await writeFile(join(dir, '.git', 'index'), 'x');
      await new Promise((r) => setTimeout(r, 400));
      expect(overlapped).toBe(false);
      expect(cycles.length).toBe(3);
      expect(cycles.flat()).not.toContain('.secrets.yaml');
      expect(cycles[1]).toEqual(expect.arrayContaining(['pbx.yaml', 'extensions/a.yaml']));
    } finally {
      await w.close();
    }
  }, 20_000);

  it('reports a cycle that throws and keeps watching', async () => {
    const dir = join(tmp.dir, 'throws');
    await mkdir(dir);
    const errors: unknown[] = [];
    let n = 0;
    const w = watchRepo(dir, async () => {
      if (++n === 1) throw new Error('boom');
    }, { debounceMs: 50, initial: true, onError: (e) => errors.push(e) });
    try {
      await w.ready;
      await until(() => errors.length === 1, 5000, 'the error');
      await writeFile(join(dir, 'pbx.yaml'), PBX);
      await until(() => n === 2, 5000, 'the next cycle');
      expect((errors[0] as Error).message).toBe('boom');
    } finally {
      await w.close();
    }
  });

  it('skips what the repo loader skips', () => {
    expect(ignoredPath('/r', '/r/.git/index')).toBe(true);
    expect(ignoredPath('/r', '/r/node_modules/x.yaml')).toBe(true);
    expect(ignoredPath('/r', '/r/extensions/a.yaml~')).toBe(true);
    expect(ignoredPath('/r', '/r/extensions/a.yaml')).toBe(false);
    expect(ignoredPath('/r', '/r')).toBe(false);
  });
});

describe('isLabTarget (watch --apply only applies to the lab node)', () => {
  it('follows openTarget: "lab" without an entry, or a local node named lab without dir', () => {
    expect(isLabTarget('lab', undefined)).toBe(true);
    expect(isLabTarget('lab', { nodes: [{ name: 'lab', type: 'local' }] })).toBe(true);
    expect(isLabTarget(undefined, { nodes: [{ name: 'lab', type: 'local' }] })).toBe(true);
    expect(isLabTarget('lab', { nodes: [{ name: 'lab', type: 'local', dir: '/var/lib/pbxctl' }] })).toBe(false);
    expect(isLabTarget('lab', { nodes: [{ name: 'lab', type: 'ssh', host: 'pbx1' }] })).toBe(false);
    expect(isLabTarget('office', { nodes: [{ name: 'office', type: 'ssh', host: 'pbx1' }] })).toBe(false);
    expect(isLabTarget(undefined, { nodes: [{ name: 'office', type: 'local' }] })).toBe(false);
    expect(isLabTarget(undefined, undefined)).toBe(false);
  });
});

describe('watchCycle', () => {
  it('prints diagnostics and skips the plan while invalid; plans once valid; applies only when asked', async () => {
    const dir = join(tmp.dir, 'cycle');
    await writeFiles(dir, { 'pbx.yaml': PBX, 'extensions/a.yaml': `${ext('1001', 'Alice')}forward: {busy: "extension:1999"}\n` });
    const node = new FakeNode();
    node.links.set('current', 'releases/empty');
    const lines: string[] = [];
    const base = { dir, log: (l: string) => lines.push(l), color: false, openTarget: async () => node.target('lab'), promptCacheDir: join(tmp.dir, 'prompts') };
    process.env.PBXCTL_SECRET_PW = 'pw';
    try {
      const bad = await watchCycle({ ...base, apply: false });
      expect(bad).toMatchObject({ valid: false, errors: 1 });
      expect(bad.planned).toBeUndefined();
      expect(lines.join('\n')).toMatch(/extensions\/a\.yaml:5:\d+ error unresolved-reference/);
      expect(lines.join('\n')).toContain('not planning until the errors are fixed');

      await writeFiles(dir, { 'extensions/a.yaml': ext('1001', 'Alice') });
      lines.length = 0;
      const planned = await watchCycle({ ...base, apply: false });
      expect(planned).toMatchObject({ valid: true, planned: 'changes' });
      expect(planned.applied).toBeUndefined();
      expect(lines.join('\n')).toContain('+ extension 1001 "Alice"');
      expect(node.links.get('current')).toBe('releases/empty');

      const applied = await watchCycle({ ...base, apply: true });
      expect(applied.applied).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
      expect(node.links.get('current')).toBe(`releases/${applied.applied}`);
      expect(await watchCycle({ ...base, apply: true })).toMatchObject({ planned: 'no-changes' });

      node.down = true;
      lines.length = 0;
      const down = await watchCycle({ ...base, apply: false });
      expect(down.problem).toBeDefined();
      expect(lines.join('\n')).toMatch(/watch: plan failed/);
    } finally {
      delete process.env.PBXCTL_SECRET_PW;
    }
  });
});
