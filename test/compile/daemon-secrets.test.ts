/**
 * The daemon secrets document (compile/daemon-secrets.ts, apply/daemon-secrets.ts): what goes in
 * it, its mode, the salted secretsVersion in features.json, PIN hashes reused across applies, and
 * a rotated secret reaching the daemon through plan/apply without being shown.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { applyNode } from '../../src/apply/executor.js';
import { daemonSecretsDocument, hashPinsInParallel } from '../../src/apply/daemon-secrets.js';
import { planFor } from '../../src/apply/prepare.js';
import { buildDaemonSecrets, pinSalt, renderDaemonSecretsFile, resolveDaemonSecrets, secretsVersion } from '../../src/compile/daemon-secrets.js';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { featureEntries } from '../../src/compile/feature-entries.js';
import { reloadFor } from '../../src/compile/release-files.js';
import { secretResolver } from '../../src/config/secrets.js';
import { validateSnapshot } from '../../src/config/validate.js';
import { parseFeatureConfig } from '../../src/daemon/config-types.js';
import { hashPin, parseDaemonSecrets, verifyPin } from '../../src/daemon/secrets-types.js';
import type { DesiredState } from '../../src/model/types.js';
import { FakeNode, fakePrompt } from '../apply/fake-node.js';

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\n';
const ext = (n: string, vm = '') => `kind: Extension\nnumber: "${n}"\nname: E${n}\npassword: \${secret:pw}\n${vm}`;
const HOOK = 'kind: Webhook\nid: crm\nurl: https://crm.example.com/hook\nevents: [call.started, call.ended, voicemail.new]\nsecret: ${secret:hook-new}\n';
const VM = 'kind: VoicemailSettings\nemail: {from: vm@example.com, smtp: {host: smtp.example.com, password: "${secret:smtp}"}}\n';

const ENV = { S_PW: 'phone-pw', S_HOOK_NEW: 'whsec_bmV3LXNlY3JldC1rZXktMDEyMzQ1Njc4OQ==', S_HOOK_OLD: 'whsec_b2xkLXNlY3JldA==', S_PIN1: '4711', S_PIN2: '9999', S_SMTP: 'smtp-pw' };

async function load(files: Record<string, string>, env: Record<string, string> = ENV) {
  const secrets = secretResolver(env, {}, { envPrefix: 'S_', file: '.secrets.yaml' });
  const r = await validateSnapshot({ files: Object.entries(files).map(([path, t]) => ({ path, bytes: new TextEncoder().encode(t) })), assets: { read: async () => undefined } }, secrets, { strict: true });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return { state: r.state as DesiredState, secrets };
}

const repo = (extra: Record<string, string> = {}) => ({
  'pbx.yaml': PBX,
  'extensions/e.yaml': [ext('1001', 'voicemail: {pin: "${secret:pin1}"}\n'), ext('1002', 'voicemail: {pin: "${secret:pin2}"}\n'), ext('1003', 'voicemail: {enabled: false, pin: "${secret:pin2}"}\n'), ext('1004')].join('---\n'),
  'webhooks/crm.yaml': HOOK,
  'voicemail/settings.yaml': VM,
  ...extra,
});
const value = (secrets: ReturnType<typeof secretResolver>) => (text: string) => {
  const m = /^\$\{(secret|env):(.+)\}$/.exec(text)!;
  return secrets.resolve({ source: m[1] as 'secret', name: m[2]! })!;
};

describe('daemon secrets document', () => {
  it('holds webhook secrets (newest first), PIN hashes of voicemail boxes and the SMTP password', async () => {
    const { state, secrets } = await load(repo({ 'webhooks/crm.yaml': `${HOOK}previousSecret: \${secret:hook-old}\n` }));
    const values = resolveDaemonSecrets(state, value(secrets));
    expect(values).toEqual({ webhooks: { crm: [ENV.S_HOOK_NEW, ENV.S_HOOK_OLD] }, voicemailPins: { 1001: '4711', 1002: '9999' }, smtpPassword: 'smtp-pw' });
    const doc = buildDaemonSecrets(values, 'node-salt');
    expect(Object.keys(doc.voicemailPins).sort()).toEqual(['1001', '1002']);
    expect(verifyPin(doc.voicemailPins['1001']!, '4711')).toBe(true);
    expect(verifyPin(doc.voicemailPins['1001']!, '9999')).toBe(false);
    expect(JSON.stringify(doc)).not.toContain('4711');
    // Deterministic: the same PIN on the same node hashes the same (no spurious file change).
    expect(buildDaemonSecrets(values, 'node-salt').voicemailPins).toEqual(doc.voicemailPins);
    expect(buildDaemonSecrets(values, 'other-node').voicemailPins['1001']).not.toBe(doc.voicemailPins['1001']);
    const file = renderDaemonSecretsFile(doc);
    expect(file).toMatchObject({ path: 'daemon/secrets.json', mode: 0o600 });
    expect(parseDaemonSecrets(JSON.parse(file.content))).toEqual(doc);
    expect(reloadFor('daemon/secrets.json')).toEqual({ rpc: 'daemon.reload' });
  });

  it('reuses a previous hash only for an unchanged PIN carrying this node salt', () => {
    const values = { webhooks: {}, voicemailPins: { 1001: '4711', 1002: '9999' } };
    const fake = (mailbox: string) => `scrypt$16384$8$1$${pinSalt('s', mailbox).toString('base64')}$REUSED`;
    const previous = { formatVersion: 1 as const, webhooks: {}, voicemailPins: { 1001: fake('1001'), 1002: fake('1002') } };
    const doc = buildDaemonSecrets(values, 's', { previous, unchanged: (m) => m === '1001' });
    expect(doc.voicemailPins['1001']).toBe(fake('1001'));
    expect(verifyPin(doc.voicemailPins['1002']!, '9999')).toBe(true);
    // Another node's salt: hashed again even when unchanged.
    expect(buildDaemonSecrets(values, 't', { previous, unchanged: () => true }).voicemailPins['1001']).not.toBe(fake('1001'));
  });

  it('secretsVersion changes with any secret, is salted per node, and the feature config carries webhooks without secrets', async () => {
    const { state, secrets } = await load(repo());
    const values = resolveDaemonSecrets(state, value(secrets));
    const v = secretsVersion(values, 'salt');
    expect(v).toMatch(/^[0-9a-f]{16}$/);
    expect(secretsVersion(values, 'other')).not.toBe(v);
    for (const changed of [
      { ...values, smtpPassword: 'x' },
      { ...values, voicemailPins: { ...values.voicemailPins, 1002: '0000' } },
      { ...values, webhooks: { crm: ['whsec_b2xkLXNlY3JldA=='] } },
    ]) expect(secretsVersion(changed, 'salt')).not.toBe(v);
    const config = compileFeatureConfig(state, { fileHashes: {}, secretsVersion: v });
    expect(config.webhooks).toEqual({ crm: { id: 'crm', url: 'https://crm.example.com/hook', events: ['call.started', 'call.ended', 'voicemail.new'], enabled: true, timeout: 5, maxAttempts: 10 } });
    expect(config.secretsVersion).toBe(v);
    expect(JSON.stringify(config)).not.toContain('whsec_');
    expect(parseFeatureConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    const entries = featureEntries(config);
    expect(entries.find((e) => e.id === 'feature/webhook/crm')).toMatchObject({ owner: 'Webhook/crm' });
    expect(entries.find((e) => e.id === 'feature/pbx/secrets')).toMatchObject({ owner: 'Pbx/features' });
    expect(() => parseFeatureConfig({ ...JSON.parse(JSON.stringify(config)), webhooks: { crm: { ...config.webhooks!.crm, url: 'ftp://x' } } })).toThrow(/webhooks\.crm\.url/);
  });
});

describe('plan/apply with the secrets document', () => {
  let node: FakeNode;
  beforeEach(() => {
    node = new FakeNode();
    node.links.set('current', 'releases/empty');
    node.addDaemon();
  });
  async function apply(files: Record<string, string>, env: Record<string, string> = ENV) {
    const { state, secrets } = await load(files, env);
    const { plan, desired } = await planFor(node.target(), state, secrets);
    const result = await applyNode(node.target(), desired, plan, { command: 'test', readPrompt: fakePrompt });
    const secretsFile = result.release ? node.files.get(`releases/${result.release}/daemon/secrets.json`) : undefined;
    return { plan, result, secretsFile };
  }

  it('ships the file 0600; a rotated webhook secret or a changed PIN is a `feature/pbx/secrets` change that reloads the daemon, never shown', async () => {
    const first = await apply(repo());
    expect(first.secretsFile?.mode).toBe(0o600);
    const doc = parseDaemonSecrets(JSON.parse(first.secretsFile!.content));
    expect(doc.webhooks).toEqual({ crm: [ENV.S_HOOK_NEW] });
    expect(node.daemon!.entries['feature/pbx/secrets']).toMatch(/^sha:/);

    // The same repo again: nothing to do.
    const { state, secrets } = await load(repo());
    expect((await planFor(node.target(), state, secrets)).plan.changes).toEqual([]);

    // Prove reuse (hashing is deterministic, so equal hashes alone would not): mark 1001's hash in
    // the live release; an apply with that PIN unchanged must carry the marked hash over.
    const liveFile = node.files.get(`releases/${first.result.release}/daemon/secrets.json`)!;
    const marked = doc.voicemailPins['1001']!.replace(/\$[^$]+$/, '$REUSED-NOT-REHASHED');
    liveFile.content = liveFile.content.replace(doc.voicemailPins['1001']!, marked);

    // Rotation: a new secret, the old one kept as previousSecret.
    const rotated = { ...ENV, S_HOOK_NEW: 'whsec_cm90YXRlZC1zZWNyZXQtMDEyMzQ1Njc4OQ==', S_HOOK_OLD: ENV.S_HOOK_NEW };
    const reloadsBefore = node.daemon!.reloads;
    const second = await apply(repo({ 'webhooks/crm.yaml': `${HOOK}previousSecret: \${secret:hook-old}\n` }), rotated);
    expect(second.plan.changes.map((c) => `${c.action} ${c.kind} ${c.identity}`)).toContain('update Webhook crm');
    const text = JSON.stringify(second.plan);
    for (const s of Object.values(rotated)) expect(text).not.toContain(s);
    expect(node.daemon!.reloads).toBe(reloadsBefore + 1);
    const doc2 = parseDaemonSecrets(JSON.parse(second.secretsFile!.content));
    expect(doc2.webhooks.crm).toEqual([rotated.S_HOOK_NEW, ENV.S_HOOK_NEW]);
    // PINs unchanged: the previous hashes are kept byte for byte, not computed again.
    expect(doc2.voicemailPins).toEqual({ ...doc.voicemailPins, 1001: marked });

    // One PIN changes: only its hash changes.
    const third = await apply(repo({ 'webhooks/crm.yaml': `${HOOK}previousSecret: \${secret:hook-old}\n` }), { ...rotated, S_PIN2: '2468' });
    const doc3 = parseDaemonSecrets(JSON.parse(third.secretsFile!.content));
    expect(doc3.voicemailPins['1001']).toBe(marked);
    expect(verifyPin(doc3.voicemailPins['1002']!, '2468')).toBe(true);
    expect(JSON.stringify(third.plan)).not.toContain('2468');
  }, 30_000);
});

describe('webhook secret validation', () => {
  it('refuses a whsec_ secret that is not base64 after the prefix, and accepts a previousSecret', async () => {
    const files = { 'pbx.yaml': PBX, 'extensions/e.yaml': ext('1001'), 'webhooks/crm.yaml': `${HOOK}previousSecret: \${secret:hook-old}\n` };
    const secrets = secretResolver({ ...ENV, S_HOOK_OLD: 'whsec_not base64!' }, {}, { envPrefix: 'S_', file: '.secrets.yaml' });
    const r = await validateSnapshot({ files: Object.entries(files).map(([path, t]) => ({ path, bytes: new TextEncoder().encode(t) })), assets: { read: async () => undefined } }, secrets, { strict: true });
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.rule, d.line])).toEqual([['webhook-secret-format', 6]]);
    const ok = await load(files);
    expect(ok.state.webhooks.get('crm')!.previousSecret).toBe('${secret:hook-old}');
  });
});

describe('parallel PIN hashing at apply', () => {
  it('gives exactly what hashPin gives with the node salt, and builds the same document', async () => {
    const pins: [string, string][] = [['1001', '4711'], ['1002', '9999'], ['1003', '0000'], ['1004', '123456']];
    const fresh = await hashPinsInParallel(pins, 'node-salt', 3);
    for (const [mailbox, pin] of pins) expect(fresh[mailbox]).toBe(hashPin(pin, pinSalt('node-salt', mailbox)));
    const values = { webhooks: { crm: ['x'] }, voicemailPins: Object.fromEntries(pins), smtpPassword: 'p' };
    expect(await daemonSecretsDocument(values, 'node-salt')).toEqual(buildDaemonSecrets(values, 'node-salt'));
    expect(await hashPinsInParallel([], 's')).toEqual({});
  }, 30_000);
});
