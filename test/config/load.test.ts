import { describe, expect, it } from 'vitest';
import { identityKey, identityOf, loadRepo, positionIn } from '../../src/config/load.js';
import type { RepoFile } from '../../src/config/repo-files.js';
import { validateSnapshot } from '../../src/config/validate.js';
import type { SecretResolver } from '../../src/config/secrets.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan:\n  extensions: ["1000-1999"]\n  ringGroups: ["6000-6099"]\n  queues: ["7000-7099"]\n  ivrs: ["8000-8099"]\n  conferences: ["9000-9099"]\nnodes:\n  - {name: lab, type: local}\n';

/** A snapshot from path -> text, with pbx.yaml unless given. */
function files(map: Record<string, string>, withRoot = true): RepoFile[] {
  const all = withRoot ? { 'pbx.yaml': PBX, ...map } : map;
  return Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) }));
}

const ext = (n: string | number, extra = '') => `kind: Extension\nnumber: ${typeof n === 'number' ? n : `"${n}"`}\nname: E${n}\npassword: \${secret:pw}\n${extra}`;

describe('loadRepo', () => {
  it('normalizes integer numbers to digit strings', () => {
    const r = loadRepo(files({
      'extensions/a.yaml': `${ext(1001)}---\n${ext('1002')}`,
      'ring-groups/g.yaml': 'kind: RingGroup\nid: g\nnumber: 6000\nstrategy: random\nmembers:\n  - extension: 1001\n  - external: "+15551230000"\n',
      'queues/q.yaml': 'kind: Queue\nid: q\nnumber: 7000\nstrategy: ring-all\nagents:\n  - extension: 1002\n    penalty: 1\n',
      'ivrs/m.yaml': 'kind: IVR\nid: m\nnumber: 8000\ngreeting: {text: hi}\noptions: {"1": extension:1001}\n',
      'conferences/c.yaml': 'kind: Conference\nid: c\nnumber: 9000\n',
    }));
    expect(r.diagnostics).toEqual([]);
    const s = r.state!;
    expect([...s.extensions.keys()]).toEqual(['1001', '1002']);
    expect(s.extensions.get('1001')!.number).toBe('1001');
    expect(s.ringGroups.get('g')).toMatchObject({ number: '6000', members: [{ extension: '1001' }, { external: '+15551230000' }] });
    expect(s.ringGroups.get('g')!.members[1]).not.toHaveProperty('extension');
    expect(s.queues.get('q')).toMatchObject({ number: '7000', agents: [{ extension: '1002', penalty: 1 }] });
    expect(s.ivrs.get('m')!.number).toBe('8000');
    expect(s.conferences.get('c')!.number).toBe('9000');
  });

  it('dispatches documents by kind into their collections', () => {
    const r = loadRepo(files({
      'all.yaml': [
        ext('1001'),
        'kind: Trunk\nid: carrier\nhosts: [{host: sip.example.net}]\nauth: {type: ip, addresses: ["192.0.2.1"]}\n',
        'kind: InboundRoute\nid: main\ndids: ["+15551230000"]\ndestination: extension:1001\n',
        'kind: OutboundRoute\nid: out\npriority: 1\npatterns: ["911"]\ntrunks: [carrier]\nemergency: true\n',
        'kind: Schedule\nid: office\ntimezone: UTC\nhours: []\n',
        'kind: Webhook\nid: crm\nurl: https://crm.example.com/hook\nevents: ["*"]\nsecret: ${secret:pw}\n',
        'kind: MusicOnHold\nid: default\nfiles: [moh/a.wav]\n',
        'kind: VoicemailSettings\nmaxMessages: 10\n',
        'kind: VoicemailSettings\nmaxMessages: 20\n',
      ].join('---\n'),
    }));
    expect(r.diagnostics).toEqual([]);
    const s = r.state!;
    expect([s.extensions, s.trunks, s.inboundRoutes, s.outboundRoutes, s.schedules, s.webhooks, s.musicOnHold].map((m) => [...m.keys()]))
      .toEqual([['1001'], ['carrier'], ['main'], ['out'], ['office'], ['crm'], ['default']]);
    // The singleton: the first one wins; the second stays in resources for the duplicate check.
    expect(s.voicemailSettings).toMatchObject({ kind: 'VoicemailSettings', maxMessages: 10 });
    expect(r.resources.map((x) => x.resource.kind)).toEqual(['Extension', 'Trunk', 'InboundRoute', 'OutboundRoute', 'Schedule', 'Webhook', 'MusicOnHold', 'VoicemailSettings', 'VoicemailSettings']);
    expect(r.resources.map((x) => x.info.schema)).toContain('voicemail-settings');
  });

  it('keeps the first of two same-identity resources in the model and both in resources', () => {
    const r = loadRepo(files({ 'extensions/a.yaml': ext('1001'), 'extensions/b.yaml': ext(1001, 'email: b@example.com\n') }));
    expect(r.state!.extensions.get('1001')!.source.file).toBe('extensions/a.yaml');
    expect(r.resources.map((x) => x.resource.source.file)).toEqual(['extensions/a.yaml', 'extensions/b.yaml']);
  });

  it('records where each resource was defined', () => {
    const r = loadRepo(files({ 'extensions/a.yaml': `# first\n${ext('1001')}---\n\n${ext('1002')}` }));
    expect(r.resources.map((x) => x.resource.source)).toEqual([
      { file: 'extensions/a.yaml', line: 2, col: 1 },
      { file: 'extensions/a.yaml', line: 8, col: 1 },
    ]);
    expect(r.state!.pbx.source).toEqual({ file: 'pbx.yaml', line: 1, col: 1 });
    expect(positionIn(r.resources[1]!, ['name'])).toEqual({ file: 'extensions/a.yaml', line: 10, col: 7 });
    expect(positionIn(r.resources[1]!)).toEqual(r.resources[1]!.resource.source);
  });

  it.each([
    ['kind: Extention\n', 'unknown-kind', 1, 7, /Did you mean Extension\?/],
    ['kind: extension\n', 'unknown-kind', 1, 7, /Did you mean Extension\?/],
    ['kind: 5\n', 'unknown-kind', 1, 7, /^Known kinds/],
    ['# c\nnumber: "1001"\n', 'missing-kind', 2, 1, /Add kind: one of Extension,/],
    ['- kind: Extension\n', 'invalid-document', 1, 1, /mapping with `kind:`/],
    ['just text\n', 'invalid-document', 1, 1, /mapping with `kind:`/],
    ['42\n', 'invalid-document', 1, 1, /mapping with `kind:`/],
  ])('reports %j as %s', (text, rule, line, col, hint) => {
    const r = loadRepo(files({ 'x/a.yaml': text }));
    expect(r.diagnostics).toMatchObject([{ severity: 'error', rule, file: 'x/a.yaml', line, col }]);
    expect(r.diagnostics[0]!.hint).toMatch(hint);
    expect(r.resources).toEqual([]);
  });

  it('says what a non-mapping document is', () => {
    const msg = (text: string) => loadRepo(files({ 'a.yaml': text })).diagnostics[0]!.message;
    expect(msg('- a\n')).toBe('document is a list, not a resource');
    expect(msg('text\n')).toBe('document is a string, not a resource');
    expect(msg('42\n')).toBe('document is a number, not a resource');
  });

  it('skips empty documents between markers', () => {
    const r = loadRepo(files({ 'a.yaml': `---\n---\n${ext('1001')}---\n` }));
    expect(r.diagnostics).toEqual([]);
    expect(r.resources).toHaveLength(1);
  });

  it('notes the identity of documents that fail their schema', () => {
    const r = loadRepo(files({
      'a.yaml': `${ext(1001, 'bogus: 1\n')}---\nkind: Queue\nid: q\nstrategy: nope\nagents: []\n---\nkind: Queue\nid: [x]\n`,
    }));
    expect([...r.declaredInvalid].sort()).toEqual([identityKey('Extension', '1001'), identityKey('Queue', 'q')]);
    expect(r.resources).toEqual([]);
    expect(r.diagnostics.map((d) => d.rule)).toContain('unknown-property');
  });

  it('labels schema errors with the kind and identity', () => {
    const r = loadRepo(files({ 'a.yaml': ext(1001, 'bogus: 1\n') }));
    expect(r.diagnostics[0]!.message).toBe('Extension 1001 has unknown property "bogus"');
  });

  describe('the root file', () => {
    it('reports a missing pbx.yaml but still loads resources', () => {
      const r = loadRepo(files({ 'extensions/a.yaml': ext('1001') }, false));
      expect(r.state).toBeUndefined();
      expect(r.diagnostics).toMatchObject([{ rule: 'missing-root', file: 'pbx.yaml', line: 1, col: 1 }]);
      expect(r.resources).toHaveLength(1);
    });

    it('accepts pbx.yml', () => {
      const r = loadRepo(files({ 'pbx.yml': PBX }, false));
      expect(r.diagnostics).toEqual([]);
      expect(r.state!.pbx.name).toBe('t');
      expect(r.pbxDoc!.file).toBe('pbx.yml');
    });

    it('reports an empty pbx.yaml once, as missing-root', () => {
      const r = loadRepo(files({ 'pbx.yaml': '# nothing yet\n' }, false));
      expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'missing-root', file: 'pbx.yaml', line: 1, col: 1, message: 'pbx.yaml is empty' }]);
    });

    it('reports an empty resource file as a warning', () => {
      const r = loadRepo(files({ 'extensions/none.yaml': '' }));
      expect(r.diagnostics).toMatchObject([{ severity: 'warning', rule: 'empty-file', file: 'extensions/none.yaml', line: 1, col: 1 }]);
    });

    it('reports a second document in pbx.yaml at that document', () => {
      const r = loadRepo(files({ 'pbx.yaml': `${PBX}---\nname: other\n` }, false));
      expect(r.diagnostics).toMatchObject([{ rule: 'invalid-document', file: 'pbx.yaml', line: 12, col: 1 }]);
      expect(r.state).toBeDefined();
    });

    it('leaves the state undefined when pbx.yaml fails its schema', () => {
      const r = loadRepo(files({ 'pbx.yaml': 'name: t\ndomain: pbx.example.com\nnodes: []\n', 'a.yaml': ext('1001') }, false));
      expect(r.state).toBeUndefined();
      expect(r.diagnostics.map((d) => d.rule).sort()).toEqual(['invalid-value', 'missing-property']);
      expect(r.diagnostics.every((d) => d.file === 'pbx.yaml')).toBe(true);
      expect(r.resources).toHaveLength(1);
    });
  });

  it('reports oversized files without reading them', () => {
    const r = loadRepo(files({}), [{ path: 'big.yaml', size: 20 * 1048576 }]);
    expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'file-too-large', file: 'big.yaml', line: 1, col: 1 }]);
    expect(r.diagnostics[0]!.message).toContain('20.0 MiB');
  });
});

describe('identityOf', () => {
  it('uses the number, the id, or the kind of singletons', () => {
    const r = loadRepo(files({ 'a.yaml': `${ext(1001)}---\nkind: Conference\nid: c\nnumber: "9000"\n---\nkind: VoicemailSettings\n` }));
    expect(r.resources.map((x) => identityOf(x.resource))).toEqual(['1001', 'c', 'VoicemailSettings']);
  });
});

describe('validateSnapshot', () => {
  const secrets: SecretResolver = { resolve: () => 'x', describe: () => 'nowhere' };
  const noAssets = { read: async () => undefined };

  it('does not report references to resources that exist but failed their schema', async () => {
    const r = await validateSnapshot({
      files: files({ 'a.yaml': `${ext(1001, 'forward:\n  busy: queue:q\n')}---\nkind: Queue\nid: q\nnumber: "7000"\nstrategy: nope\nagents: []\n` }),
      assets: noAssets,
    }, secrets, { strict: false });
    expect(r.diagnostics.map((d) => d.rule)).toEqual(['invalid-value']);
  });

  it('runs no semantic checks without a usable pbx.yaml', async () => {
    const r = await validateSnapshot({ files: files({ 'a.yaml': ext('1001', 'forward:\n  busy: queue:nope\n') }, false), assets: noAssets }, secrets, { strict: false });
    expect(r.diagnostics.map((d) => d.rule)).toEqual(['missing-root']);
    expect(r.stats).toEqual({ files: 1, resources: 1 });
  });

  it('reports a second VoicemailSettings as duplicate-id', async () => {
    const r = await validateSnapshot({ files: files({ 'v.yaml': 'kind: VoicemailSettings\n---\nkind: VoicemailSettings\n' }), assets: noAssets }, secrets, { strict: false });
    expect(r.diagnostics).toMatchObject([{ rule: 'duplicate-id', file: 'v.yaml', line: 3, col: 1, message: 'VoicemailSettings is also defined at v.yaml:1:1' }]);
  });
});
