import { describe, expect, it } from 'vitest';
import { contentHash } from '../../src/compile/release-files.js';
import { detectDrift, entryDrift, fileDrift, renderDriftText } from '../../src/gitops/drift.js';
import type { NodeEntry } from '../../src/compile/node-data.js';
import type { Target } from '../../src/targets/target.js';

const entries: NodeEntry[] = [
  { id: 'htable/ext/300', owner: 'Extension/300', value: 'str:maxc=3' },
  { id: 'htable/ext/301', owner: 'Extension/301', value: 'str:maxc=3' },
  { id: 'htable/auth/300', owner: 'Extension/300', value: 'str:ha1', sensitive: true },
];

describe('entryDrift', () => {
  it('finds changed, missing and added entries; never shows secret values', () => {
    const live = new Map([
      ['htable/ext/300', 'str:maxc=99'],
      ['htable/auth/300', 'str:other-ha1'],
      ['htable/ext/399', 'str:maxc=1'],
      ['htable/auth/399', 'str:intruder'],
    ]);
    expect(entryDrift({ entries }, live)).toEqual([
      { id: 'htable/auth/300', owner: 'Extension/300', kind: 'changed', sensitive: true },
      { id: 'htable/auth/399', kind: 'added', sensitive: true },
      { id: 'htable/ext/300', owner: 'Extension/300', kind: 'changed', expected: 'str:maxc=3', live: 'str:maxc=99' },
      { id: 'htable/ext/301', owner: 'Extension/301', kind: 'missing', expected: 'str:maxc=3' },
      { id: 'htable/ext/399', kind: 'added', live: 'str:maxc=1' },
    ]);
  });

  it('is empty when the live node equals the inventory', () => {
    expect(entryDrift({ entries }, new Map(entries.map((e) => [e.id, e.value])))).toEqual([]);
  });
});

describe('fileDrift', () => {
  it('compares only the files read, by sha256', () => {
    const files = { 'htable/ext': contentHash('a'), 'dispatcher.list': contentHash('b'), 'prompts/x': 'ff' };
    expect(fileDrift({ files }, new Map([['htable/ext', 'a'], ['dispatcher.list', undefined]]))).toEqual([{ path: 'dispatcher.list', kind: 'missing' }]);
    expect(fileDrift({ files }, new Map([['htable/ext', 'edited']]))).toEqual([{ path: 'htable/ext', kind: 'changed' }]);
  });
});

describe('detectDrift over a target', () => {
  const inventory = { release: 'r7', commit: 'c'.repeat(40), entries, files: { 'htable/ext': contentHash('ext file'), 'prompts/p1': 'x' } };
  const target = (live: Map<string, string>, files: Record<string, string>, inv: unknown = inventory): Target => ({
    name: 'n1',
    rpc: {
      call: async (method: string, params?: unknown[]) => {
        if (method !== 'htable.dump') return [];
        const t = (params as string[])[0];
        const slot = [...live].filter(([id]) => id.startsWith(`htable/${t}/`)).map(([id, v]) => ({ name: id.split('/')[2], value: v.replace(/^str:/, ''), type: 'str' }));
        return slot.length ? [{ entry: 0, size: slot.length, slot }] : [];
      },
    },
    readText: async (p: string) => (p === 'current/inventory.json' ? (inv === null ? undefined : JSON.stringify(inv)) : files[p]),
  }) as unknown as Target;

  it('reports a node that matches its release as in sync, and never reads the binary prompts', async () => {
    const live = new Map(entries.map((e) => [e.id, e.value]));
    const read: string[] = [];
    const t = target(live, { 'current/htable/ext': 'ext file' });
    const orig = t.readText.bind(t);
    (t as { readText: Target['readText'] }).readText = async (p) => {
      read.push(p);
      return orig(p);
    };
    const r = await detectDrift(t);
    expect(r.inSync, JSON.stringify(r)).toBe(true);
    expect(read).not.toContain('current/prompts/p1');
    expect(renderDriftText(r)).toContain('No drift: the live node matches the deployed release.');
  });

  it('skips a file it cannot read (reported, not drift)', async () => {
    const t = target(new Map(entries.map((e) => [e.id, e.value])), {});
    const orig = t.readText.bind(t);
    (t as { readText: Target['readText'] }).readText = async (p) => {
      if (p === 'current/htable/ext') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return orig(p);
    };
    const r = await detectDrift(t);
    expect(r).toMatchObject({ inSync: true, unreadable: ['htable/ext'], files: [] });
  });

  it('compares the feature daemon\'s entries only when the target has its API', async () => {
    const withFeature = { ...inventory, entries: [...entries, { id: 'feature/ivr/main', owner: 'IVR/main', value: 'sha:1' }] };
    const live = new Map(entries.map((e) => [e.id, e.value]));
    const files = { 'current/htable/ext': 'ext file' };
    const noDaemon = await detectDrift(target(live, files, withFeature));
    expect(noDaemon).toMatchObject({ inSync: true, daemonCompared: false });
    const t = target(live, files, withFeature);
    let running: Record<string, string> = { 'feature/ivr/main': 'sha:2' };
    (t as { daemon?: unknown }).daemon = { config: async () => ({ entries: running }) };
    expect(await detectDrift(t)).toMatchObject({ inSync: false, daemonCompared: true, entries: [{ id: 'feature/ivr/main', kind: 'changed', expected: 'sha:1', live: 'sha:2' }] });
    running = { 'feature/ivr/main': 'sha:1' };
    expect(await detectDrift(t)).toMatchObject({ inSync: true, daemonCompared: true });
  });

  it('refuses a node pbxctl never deployed to', async () => {
    await expect(detectDrift(target(new Map(), {}, null))).rejects.toMatchObject({ code: 'NOTHING_DEPLOYED' });
  });
});

describe('renderDriftText', () => {
  it('lists each drifted entry with its owner and each edited file', () => {
    const text = renderDriftText({
      target: 'lab', release: 'r7', commit: `${'c'.repeat(40)}`, inSync: false,
      entries: [{ id: 'htable/ext/300', owner: 'Extension/300', kind: 'changed', expected: 'str:maxc=3', live: 'str:maxc=99' }, { id: 'htable/auth/1', kind: 'added', sensitive: true }],
      files: [{ path: 'htable/ext', kind: 'changed' }], unreadable: ['daemon/secrets.json'], daemonCompared: false,
    });
    expect(text).toContain('Node lab: release r7, commit cccccccccccc');
    expect(text).toContain('~ htable ext 300 [Extension/300]: "str:maxc=99" on the node, deployed "str:maxc=3"');
    expect(text).toContain('+ htable auth 1: added on the node (sensitive)');
    expect(text).toContain('! file current/htable/ext: edited on the node');
    expect(text).toContain('2 entries and 1 file drifted.');
    expect(text).toContain('(not compared, unreadable: current/daemon/secrets.json)');
    expect(text).toContain('(the feature daemon\'s running config was not compared: target lab has no daemon API)');
  });
});
