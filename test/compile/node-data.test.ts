import { describe, expect, it } from 'vitest';
import { escapeDbText, HTABLE_COLUMNS, renderDbTextTable } from '../../src/compile/db-text.js';
import { allocate, compileNodeData, dispatcherAttrs, ha1, hostUri } from '../../src/compile/node-data.js';
import { fileOfEntry, renderReleaseFiles, reloadFor } from '../../src/compile/release-files.js';
import { secretResolver } from '../../src/config/secrets.js';
import { validateSnapshot } from '../../src/config/validate.js';
import type { DesiredState } from '../../src/model/types.js';

async function state(files: Record<string, string>): Promise<DesiredState> {
  const secrets = secretResolver({ PW: 'pw' }, {}, { envPrefix: 'X_', file: 'f' });
  const r = await validateSnapshot({ files: Object.entries(files).map(([path, t]) => ({ path, bytes: new TextEncoder().encode(t) })), assets: { read: async () => undefined } }, secrets, { strict: false });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.state!;
}

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"], queues: ["7000-7099"], featureCodes: {echoTest: "*44"}}\nnodes: [{name: lab, type: local}]\ndefaults: {maxContacts: 2}\n';

describe('db_text rendering', () => {
  it('escapes separators and renders the header', () => {
    expect(escapeDbText('a:b\\c\nd')).toBe('a\\:b\\\\c\\nd');
    expect(renderDbTextTable(HTABLE_COLUMNS, [['1001', 0, 0, 'x:y', 0]])).toBe('key_name(str) key_type(int) value_type(int) key_value(str) expires(int)\n1001:0:0:x\\:y:0\n');
    expect(() => renderDbTextTable(HTABLE_COLUMNS, [['a']])).toThrow(/1 fields/);
  });
});

describe('compileNodeData', () => {
  it('computes digest HA1 as RFC 2617 defines it', () => {
    expect(ha1('Mufasa', 'testrealm@host.com', 'Circle Of Life')).toBe('939e7578ed9e3c518a452acee763bce9'); // RFC 2617 §3.5 example
  });

  it('maps extensions, numbered features, feature codes, DIDs and routes to htable entries', async () => {
    const s = await state({
      'pbx.yaml': PBX,
      'e.yaml': 'kind: Extension\nnumber: "1001"\nname: A\npassword: ${env:PW}\noutboundClass: national\ncallerId: {external: {number: "+15555550100", name: "A; B"}}\n',
      'q.yaml': 'kind: Queue\nid: support\nnumber: "7000"\nstrategy: ring-all\nagents: [{extension: "1001"}]\n',
      'd.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15555550100"]\ndestination: queue:support\n',
    });
    const entries = compileNodeData(s, (r) => (r === '${env:PW}' ? 'pw' : ''), allocate(s));
    const map = Object.fromEntries(entries.map((e) => [e.id, e.value]));
    expect(map['htable/auth/1001']).toBe(`str:${ha1('1001', 'pbx.example.com', 'pw')}`);
    expect(entries.find((e) => e.id === 'htable/auth/1001')!.sensitive).toBe(true);
    expect(map['htable/ext/1001']).toBe('str:maxc=2;class=national;cid=+15555550100;cidname="A; B"');
    expect(map['htable/dial/1001']).toBe('str:t=ext;ext=1001');
    expect(map['htable/dial/7000']).toBe('str:t=feature;dest=queue:support');
    expect(map['htable/dial/*44']).toBe('str:t=feature;dest=feature:echoTest');
    expect(map['htable/dial/*97']).toBe('str:t=feature;dest=feature:voicemail');
    expect(map['htable/did/+15555550100']).toBe('str:t=feature;dest=queue:support');
    expect(map['htable/outbound/count']).toBe('int:0');
  });

  it('tells Kamailio which forwards and DND an extension has, with the no-answer timeout', async () => {
    const ext = (n: string, extra: string) => `kind: Extension\nnumber: "${n}"\nname: E${n}\npassword: \${env:PW}\n${extra}`;
    const s = await state({
      'pbx.yaml': `${PBX}`.replace('defaults: {maxContacts: 2}', 'defaults: {maxContacts: 2, ringTimeout: 25}'),
      'a.yaml': ext('1001', 'forward: {busy: voicemail:1001, noAnswer: voicemail:1001, unavailable: voicemail:1001}\n'),
      'b.yaml': ext('1002', 'noAnswerTimeout: 12\nforward: {noAnswer: extension:1001}\ndoNotDisturb: true\n'),
      'c.yaml': ext('1003', 'forward: {always: external:+15555550123}\n'),
      'd.yaml': ext('1004', ''),
    });
    const map = Object.fromEntries(compileNodeData(s, () => 'pw', allocate(s)).map((e) => [e.id, e.value]));
    expect(map['htable/ext/1001']).toBe('str:maxc=2;fwd=bnu;rto=25');
    expect(map['htable/ext/1002']).toBe('str:maxc=2;fwd=n;rto=12;dnd=1');
    expect(map['htable/ext/1003']).toBe('str:maxc=2;fwd=a');
    expect(map['htable/ext/1004']).toBe('str:maxc=2');
  });

  it('keeps trunk groups and route sets stable as trunks come and go', async () => {
    const trunk = (id: string) => `kind: Trunk\nid: ${id}\nhosts: [{host: 192.0.2.1}]\nauth: {type: ip, addresses: [192.0.2.1]}\n`;
    const s1 = await state({ 'pbx.yaml': PBX, 'a.yaml': trunk('bbb'), 'b.yaml': trunk('ccc') });
    const a1 = allocate(s1);
    expect(a1.trunkGroups).toEqual({ bbb: 1, ccc: 2 });
    const s2 = await state({ 'pbx.yaml': PBX, 'a.yaml': trunk('aaa'), 'b.yaml': trunk('ccc') });
    expect(allocate(s2, a1).trunkGroups).toEqual({ ccc: 2, aaa: 1 });
  });

  it('orders a route\'s dispatcher set by trunk order, then host priority', async () => {
    const s = await state({
      'pbx.yaml': PBX,
      't.yaml': 'kind: Trunk\nid: a\nhosts: [{host: 192.0.2.2, priority: 5}, {host: 192.0.2.1, priority: 1}]\nauth: {type: ip, addresses: [192.0.2.0/28]}\n---\nkind: Trunk\nid: b\nhosts: [{host: sip.example.net, port: 5061, transport: tls}]\nauth: {type: registration, username: u, password: "${env:PW}"}\n',
      'r.yaml': 'kind: OutboundRoute\nid: all\npriority: 1\npatterns: ["_X.", "/^\\\\+1\\\\d{10}$/"]\ntrunks: [a, b]\n---\nkind: OutboundRoute\nid: sos\npriority: 0\nemergency: true\npatterns: ["911"]\ntrunks: [b]\n',
    });
    const entries = compileNodeData(s, () => 'pw', allocate(s));
    const map = Object.fromEntries(entries.map((e) => [e.id, e.value]));
    expect(map['htable/outbound/0.id']).toBe('str:sos');
    expect(map['htable/outbound/1.re']).toBe('str:(?:^[0123456789].+$)|(?:^(?:^\\+1\\d{10}$)$)');
    expect(map['htable/outbound/0.emergency']).toBe('int:1');
    expect(entries.filter((e) => e.id.startsWith('dispatcher/1/')).map((e) => `${e.id} ${e.value}`)).toEqual([
      'dispatcher/1/sip:192.0.2.1:5060 prio=3;attrs=trunk=a;weight=100',
      'dispatcher/1/sip:192.0.2.2:5060 prio=2;attrs=trunk=a;weight=100',
      'dispatcher/1/sip:sip.example.net:5061;transport=tls prio=1;attrs=trunk=b;weight=100',
    ]);
    expect(map['address/1/192.0.2.0/28/0']).toBe('tag=a');
    expect(hostUri({ host: '2001:db8::1' })).toBe('sip:[2001:db8::1]:5060');
    const files = renderReleaseFiles(entries);
    expect(files.map((f) => f.path)).toEqual(['db/pbx_auth', 'db/pbx_ext', 'db/pbx_dial', 'db/pbx_did', 'db/pbx_outbound', 'db/pbx_trunk', 'db/address', 'db/uacreg', 'db/version', 'dispatcher.list']);
    expect(files.find((f) => f.path === 'dispatcher.list')!.content).toContain('1 sip:192.0.2.1:5060 0 3 trunk=a;weight=100\n1 sip:192.0.2.2:5060 0 2 trunk=a;weight=100\n1 sip:sip.example.net:5061;transport=tls 16 1 trunk=b;weight=100\n');
    expect(files.find((f) => f.path === 'db/address')!.content).toContain('1:1:192.0.2.0:28:0:a');
    expect(reloadFor('db/pbx_did')).toEqual({ rpc: 'htable.reload', table: 'did' });
    expect(reloadFor('db/version')).toBeUndefined();
    // Same input, same bytes: reload decisions compare content hashes.
    expect(renderReleaseFiles([...entries].reverse())).toEqual(files);
  });

  it('puts the trunk caller ID into dispatcher attrs, percent-encoded so the list file keeps the host', async () => {
    const s = await state({
      'pbx.yaml': PBX,
      't.yaml': 'kind: Trunk\nid: a\nhosts: [{host: 192.0.2.1}]\nauth: {type: ip, addresses: [192.0.2.1]}\ncallerId: {number: "+15550100", name: "Harbor & Co; 100% \\"Zoë\\""}\n',
      'r.yaml': 'kind: OutboundRoute\nid: all\npriority: 1\npatterns: ["_X."]\ntrunks: [a]\n',
    });
    const entries = compileNodeData(s, () => 'pw', allocate(s));
    const ds = entries.filter((e) => e.id.startsWith('dispatcher/')).map((e) => e.value);
    expect(ds).toEqual(['prio=1;attrs=trunk=a;weight=100;cid=+15550100;cidname=Harbor%20%26%20Co%3B%20100%25%20Zo%C3%AB']);
    // One whitespace-free token per line in dispatcher.list (ds_load_list stops at whitespace).
    const list = renderReleaseFiles(entries).find((f) => f.path === 'dispatcher.list')!.content;
    expect(list).toContain('1 sip:192.0.2.1:5060 0 1 trunk=a;weight=100;cid=+15550100;cidname=Harbor%20%26%20Co%3B%20100%25%20Zo%C3%AB\n');
    // Percent-decoding (what the script's {s.unescape.param} does) gives the name back, quotes removed as for htable attrs.
    const name = 'Harbor & Co; 100% "Zoë" (main) \\ \u00a0';
    expect(decodeURIComponent(dispatcherAttrs({ cidname: name }).slice('cidname='.length))).toBe(name.replace(/["\\]/g, ''));
    expect(dispatcherAttrs({ a: 'x y', b: '', c: undefined, d: 'ivr:main' })).toBe('a=x%20y;d=ivr:main');
  });

  it('compiles registration trunks into sensitive uacreg rows, and number formats into dispatcher attrs', async () => {
    const s = await state({
      'pbx.yaml': PBX,
      't.yaml': [
        'kind: Trunk\nid: reg\nhosts: [{host: sip-b.example.net, priority: 10}, {host: sip-a.example.net, port: 5080, transport: tcp, priority: 1}]\nauth: {type: registration, username: "2125550100", password: "${env:PW}", realm: sip.example.net, expiry: 600}\nnumberFormat: {country: "1", nationalPrefix: "1", internationalPrefix: "011", outbound: national}\n',
        'kind: Trunk\nid: plain\nhosts: [{host: 192.0.2.1}]\nauth: {type: registration, username: u, password: "${env:PW}"}\nnumberFormat: {country: "49", outbound: e164-no-plus}\n',
        'kind: Trunk\nid: ipauth\nhosts: [{host: 192.0.2.9}]\nauth: {type: ip, addresses: [192.0.2.9]}\nnumberFormat: {country: "44", outbound: national}\n',
      ].join('---\n'),
      'r.yaml': 'kind: OutboundRoute\nid: all\npriority: 1\npatterns: ["_X."]\ntrunks: [reg, plain, ipauth]\n',
    });
    const entries = compileNodeData(s, (r) => (r === '${env:PW}' ? 'p:w;1' : ''), allocate(s));
    const uac = entries.filter((e) => e.id.startsWith('uacreg/'));
    expect(uac.map((e) => [e.id, e.owner, e.sensitive])).toEqual([['uacreg/reg', 'Trunk/reg', true], ['uacreg/plain', 'Trunk/plain', true]]);
    // The registrar is the first host by priority; l_uuid (the id) is the trunk id.
    expect(uac[0]!.value).toBe(`json:${JSON.stringify({ l_username: '2125550100', l_domain: '', r_username: '2125550100', r_domain: 'sip-a.example.net:5080', realm: 'sip.example.net', auth_username: '2125550100', auth_password: 'p:w;1', auth_proxy: 'sip:sip-a.example.net:5080;transport=tcp', expires: 600 })}`);
    expect(JSON.parse(uac[1]!.value.slice(5))).toMatchObject({ r_domain: '192.0.2.1', realm: '', expires: 3600, auth_proxy: 'sip:192.0.2.1:5060' });
    // Dispatcher attrs carry the trunk and its outbound format, never a credential.
    const ds = entries.filter((e) => e.id.startsWith('dispatcher/')).map((e) => e.value);
    expect(ds).toEqual([
      'prio=4;attrs=trunk=reg;weight=100;fmt=national;cc=1;np=1;ip=011',
      'prio=3;attrs=trunk=reg;weight=100;fmt=national;cc=1;np=1;ip=011',
      'prio=2;attrs=trunk=plain;weight=100;fmt=e164-no-plus',
      'prio=1;attrs=trunk=ipauth;weight=100;fmt=national;cc=44;np=0;ip=00',
    ]);
    expect(ds.join('\n')).not.toContain('p:w');
    const files = renderReleaseFiles(entries);
    const uacreg = files.find((f) => f.path === 'db/uacreg')!;
    expect(uacreg.mode).toBe(0o600);
    expect(files.filter((f) => f.mode !== undefined).map((f) => f.path)).toEqual(['db/uacreg']);
    expect(uacreg.content).toBe([
      'id(int) l_uuid(str) l_username(str) l_domain(str,null) r_username(str) r_domain(str) realm(str,null) auth_username(str) auth_password(str) auth_ha1(str,null) auth_proxy(str,null) expires(int) flags(int) reg_delay(int) contact_addr(str,null) socket(str,null)',
      '1:plain:u::u:192.0.2.1::u:p\\:w;1::sip\\:192.0.2.1\\:5060:3600:0:0::',
      '1:reg:2125550100::2125550100:sip-a.example.net\\:5080:sip.example.net:2125550100:p\\:w;1::sip\\:sip-a.example.net\\:5080;transport=tcp:600:0:0::',
      '',
    ].join('\n').replace('\n1:reg', '\n2:reg'));
    expect(files.find((f) => f.path === 'db/version')!.content).toBe('table_name(str) table_version(int)\naddress:6\nuacreg:5\n');
    expect(files.find((f) => f.path === 'dispatcher.list')!.content).toContain('1 sip:sip-a.example.net:5080;transport=tcp 16 4 trunk=reg;weight=100;fmt=national;cc=1;np=1;ip=011\n');
  });

  it('reloads each release file with its module\'s RPC', () => {
    expect(reloadFor('db/uacreg')).toEqual({ rpc: 'uac.reg_reload' });
    expect(reloadFor('db/pbx_trunk')).toEqual({ rpc: 'htable.reload', table: 'trunk' });
    expect(reloadFor('db/address')).toEqual({ rpc: 'permissions.addressReload' });
    expect(reloadFor('dispatcher.list')).toEqual({ rpc: 'dispatcher.reload' });
    expect(reloadFor('db/version')).toBeUndefined();
    expect(fileOfEntry('uacreg/carrier')).toBe('db/uacreg');
    expect(fileOfEntry('htable/trunk/1')).toBe('db/pbx_trunk');
  });
});
