/**
 * Property-based tests of the validation core: whatever bytes a YAML file holds, loading and
 * validating never throws, and every diagnostic is well formed and points into a real file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWav } from '../../src/config/checks/assets.js';
import { loadRepo } from '../../src/config/load.js';
import type { RepoFile } from '../../src/config/repo-files.js';
import type { SecretResolver } from '../../src/config/secrets.js';
import { validateSnapshot } from '../../src/config/validate.js';
import type { Diagnostic } from '../../src/lib/diagnostics.js';
import { resourceFile } from './resource-arbitrary.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan:\n  extensions: ["1000-1999"]\n  ringGroups: ["6000-6099"]\n  queues: ["7000-7099"]\n  ivrs: ["8000-8099"]\nnodes:\n  - {name: lab, type: local}\n';

/** A valid neighbourhood so references from the fuzzed file can resolve (or almost). */
const BASE: Record<string, string> = {
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: A\npassword: ${secret:pw}\n',
  'queues/q.yaml': 'kind: Queue\nid: q\nnumber: "7000"\nstrategy: ring-all\nagents: [{extension: "1001"}]\n',
  'trunks/carrier.yaml': 'kind: Trunk\nid: carrier\nhosts: [{host: sip.example.net}]\nauth: {type: ip, addresses: ["192.0.2.1"]}\n',
  'outbound-routes/e.yaml': 'kind: OutboundRoute\nid: e\npriority: 0\nemergency: true\npatterns: ["911"]\ntrunks: [carrier]\n',
};

const enc = (s: string) => new TextEncoder().encode(s);
const secrets: SecretResolver = { resolve: (r) => (r.name === 'pw' ? 'x' : undefined), describe: (r) => r.name };
/** A minimal 8 kHz mono 16-bit WAV with two samples. */
const WAV = new Uint8Array([...enc('RIFF'), 40, 0, 0, 0, ...enc('WAVEfmt '), 16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0, ...enc('data'), 4, 0, 0, 0, 0, 0, 0, 0]);
const assets = { read: async (p: string) => (p === 'prompts/x.wav' ? enc('RIFF....WAVEjunk') : p === 'prompts/ok.wav' ? WAV : undefined) };

function repo(extra: Record<string, Uint8Array>): RepoFile[] {
  const all: Record<string, Uint8Array> = { 'pbx.yaml': enc(PBX), ...Object.fromEntries(Object.entries(BASE).map(([k, v]) => [k, enc(v)])), ...extra };
  return Object.keys(all).sort().map((path) => ({ path, bytes: all[path]! }));
}

/** Asserts the invariants every diagnostic must satisfy. */
function wellFormed(list: readonly Diagnostic[], paths: readonly string[]): void {
  for (const d of list) {
    const where = JSON.stringify(d);
    expect(d.rule, where).toMatch(/^[a-z]+(-[a-z0-9]+)*$/);
    expect(['error', 'warning'], where).toContain(d.severity);
    expect(Number.isInteger(d.line) && d.line >= 1, where).toBe(true);
    expect(Number.isInteger(d.col) && d.col >= 1, where).toBe(true);
    expect(paths, where).toContain(d.file);
    expect(typeof d.message === 'string' && d.message.length > 0, where).toBe(true);
    for (const r of d.related ?? []) expect(r.line >= 1 && r.col >= 1 && paths.includes(r.file), where).toBe(true);
  }
}

async function validateWith(path: string, bytes: Uint8Array): Promise<void> {
  const files = repo({ [path]: bytes });
  const paths = [...files.map((f) => f.path), 'pbx.yaml'];
  wellFormed(loadRepo(files).diagnostics, paths);
  const lenient = await validateSnapshot({ files, assets }, secrets, { strict: false });
  const strict = await validateSnapshot({ files, assets }, secrets, { strict: true });
  wellFormed(lenient.diagnostics, paths);
  // Deterministic, and --strict only turns unresolved secrets into errors.
  expect((await validateSnapshot({ files, assets }, secrets, { strict: false })).diagnostics).toEqual(lenient.diagnostics);
  expect(strict.diagnostics).toEqual(lenient.diagnostics.map((d) => (d.rule === 'unresolved-secret' ? { ...d, severity: 'error' } : d)));
}

// Tokens that steer random text towards resources the semantic checks look at.
const KINDS = ['Extension', 'RingGroup', 'Queue', 'IVR', 'Conference', 'Trunk', 'InboundRoute', 'OutboundRoute', 'Schedule', 'MusicOnHold', 'Webhook', 'VoicemailSettings', 'Nope'];
const KEYS = [
  'kind', 'number', 'id', 'name', 'password', 'members', 'agents', 'extension', 'external', 'options', '"1"', '"#"', 'fallback', 'overflow',
  'timeoutDestination', 'invalidDestination', 'greeting', 'text', 'file', 'patterns', 'trunks', 'priority', 'emergency', 'hours', 'days',
  'open', 'close', 'holidays', 'date', 'yearly', 'from', 'to', 'overrides', 'closed', 'timezone', 'dids', 'destination', 'schedule',
  'voicemail', 'enabled', 'pin', 'forward', 'busy', 'always', 'strategy', 'files', 'auth', 'type', 'addresses', 'hosts', 'host',
  'outboundClass', 'classes', 'directDial', 'url', 'events', 'secret', 'musicOnHold', 'trunk', '<<', '? [a]',
];
const VALUES = [
  ...KINDS, '"1001"', '1001', '1002', '"6000"', '7000', '8000', 'ring-group:a', 'ring-group:b', 'ivr:m', 'queue:q', 'queue:r', 'voicemail:1001',
  'extension:1001', 'extension:1001', 'schedule:s', 'hangup', '[]', '{}', '[mon, tue]', '"09:00"', '"17:00"', '"24:00"', '"2026-02-30"', '"02-29"',
  '"_X."', '"_011."', '"_NXXNXXXXXX"', '"911"', '"/(/"', '"/^9/"', '"_[9-1]"', '${secret:pw}', '${secret:nope}', 'true', 'null', '&a', '*a', '&a [1]',
  '!!binary aGk=', '---', 'prompts/x.wav', 'prompts/y.wav', '[extension:1001]', '~', '', 'UTC', 'Mars/Olympus', '-1', '1e400', '0x10',
  '"+15551230000"', '[carrier]', '[nope]', 'ip', 'registration', '[{extension: 1001}]', '[{extension: "1001", external: "+15551230000"}]',
  '{text: hi}', '{file: prompts/x.wav}', '[internal]', 'ring-all', 'simultaneous', '"*97"', '[{days: [mon], open: "09:00", close: "08:00"}]',
];
const line = fc.tuple(fc.constantFrom('', '  ', '    ', '  - ', '- ', '\t'), fc.constantFrom(...KEYS), fc.constantFrom(': ', ':', ' ', ':\n  - '), fc.constantFrom(...VALUES))
  .map(([indent, key, sep, value]) => `${indent}${key}${sep}${value}`);
const doc = fc.tuple(fc.constantFrom(...KINDS), fc.array(line, { maxLength: 12 })).map(([kind, lines]) => [`kind: ${kind}`, ...lines].join('\n'));
const yamlish = fc.array(doc, { minLength: 1, maxLength: 4 }).map((docs) => `${docs.join('\n---\n')}\n`);

describe('validation never throws', () => {
  it('on arbitrary text', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), (text) => validateWith('fuzz/a.yaml', enc(text))), { numRuns: 200 });
  });

  it('on arbitrary bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), (bytes) => validateWith('fuzz/a.yaml', bytes)), { numRuns: 200 });
  });

  it('on YAML-shaped text built from resource vocabulary', async () => {
    await fc.assert(fc.asyncProperty(yamlish, (text) => validateWith('fuzz/a.yaml', enc(text))), { numRuns: 300 });
  });

  it('on schema-shaped resources with random references, loops and values', async () => {
    await fc.assert(fc.asyncProperty(resourceFile, resourceFile, (a, b) => validateWith('fuzz/a.yaml', enc(a)).then(() => validateWith('fuzz/b.yaml', enc(b)))), { numRuns: 200 });
  });

  it('on arbitrary text as pbx.yaml', async () => {
    const root = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(line, { maxLength: 10 }).map((l) => `${PBX}${l.join('\n')}\n`));
    await fc.assert(fc.asyncProperty(root, (text) => validateWith('pbx.yaml', enc(text))), { numRuns: 300 });
  });

  it('on single-byte mutations of a valid resource', async () => {
    const valid = enc('kind: IVR\nid: m\nnumber: "8000"\ngreeting:\n  file: prompts/x.wav\noptions:\n  "1": queue:q\n  "2": ivr:m\ntimeoutDestination: ivr:m\ndirectDial: true\n');
    const mutation = fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete'));
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
      const bytes = [...valid];
      for (const [at, b, op] of muts) {
        const i = Math.min(at, bytes.length);
        if (op === 'set') bytes[i] = b;
        else if (op === 'insert') bytes.splice(i, 0, b);
        else bytes.splice(i, 1);
      }
      return validateWith('ivrs/m.yaml', new Uint8Array(bytes));
    }), { numRuns: 300 });
  });
});

describe('parseWav', () => {
  it('never throws and reports missing parts as errors', () => {
    const riff = fc.array(fc.tuple(fc.constantFrom('fmt ', 'data', 'LIST', 'junk'), fc.uint8Array({ maxLength: 40 }), fc.nat({ max: 64 })))
      .map((chunks) => {
        const parts: number[] = [...enc('RIFF'), 0, 0, 0, 0, ...enc('WAVE')];
        for (const [id, body, size] of chunks) parts.push(...enc(id), size & 0xff, 0, 0, 0, ...body);
        return new Uint8Array(parts);
      });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), riff), (bytes) => {
      const info = parseWav(bytes);
      if (!('error' in info)) expect(info.channels > 0 && info.sampleRate > 0 && info.dataBytes >= 0).toBe(true);
    }), { numRuns: 1000 });
  });
});

describe('routing loops', () => {
  // Random graphs of ring groups, queues and IVRs linked by their continuation fields: a loop is
  // reported once per cycle (strongly connected component), exactly when one exists.
  const node = fc.record({ type: fc.constantFrom('ring-group', 'queue', 'ivr'), next: fc.array(fc.nat({ max: 5 }), { maxLength: 2 }) });
  it('reports one routing-loop per cycle', async () => {
    await fc.assert(fc.asyncProperty(fc.array(node, { minLength: 1, maxLength: 6 }), async (nodes) => {
      const name = (i: number) => `${nodes[i]!.type}:n${i}`;
      const targets = nodes.map((n) => [...new Set(n.next.filter((j) => j < nodes.length))]);
      const docs = nodes.map((n, i) => {
        const [a, b] = targets[i]!.map(name);
        if (n.type === 'ring-group') return `kind: RingGroup\nid: n${i}\nnumber: "60${i}0"\nstrategy: random\nmembers: [{extension: "1001"}]\n${a ? `fallback: ${a}\n` : ''}`;
        if (n.type === 'queue') return `kind: Queue\nid: n${i}\nnumber: "70${i}1"\nstrategy: ring-all\nagents: [{extension: "1001"}]\n${a ? `overflow: ${a}\n` : ''}`;
        return `kind: IVR\nid: n${i}\nnumber: "80${i}0"\ngreeting: {text: hi}\noptions: {"0": extension:1001}\n${a ? `timeoutDestination: ${a}\n` : ''}${b ? `invalidDestination: ${b}\n` : ''}`;
      });
      // Ring groups and queues follow only one continuation; keep the graph to what was written.
      nodes.forEach((n, i) => { if (n.type !== 'ivr') targets[i] = targets[i]!.slice(0, 1); });
      const reach = nodes.map((_, i) => {
        const seen = new Set<number>();
        const stack = [...targets[i]!];
        while (stack.length) {
          const j = stack.pop()!;
          if (!seen.has(j)) { seen.add(j); stack.push(...targets[j]!); }
        }
        return seen;
      });
      const cyclic = nodes.map((_, i) => reach[i]!.has(i));
      const components = new Set(nodes.map((_, i) => (cyclic[i] ? Math.min(...[...reach[i]!].filter((j) => reach[j]!.has(i))) : -1)));
      components.delete(-1);
      const r = await validateSnapshot({ files: repo({ 'flows.yaml': enc(docs.join('---\n')) }), assets }, secrets, { strict: false });
      const loops = r.diagnostics.filter((d) => d.rule === 'routing-loop');
      expect(r.diagnostics.filter((d) => d.severity === 'error' && d.rule !== 'routing-loop')).toEqual([]);
      expect(loops).toHaveLength(components.size);
    }), { numRuns: 300 });
  });
});
