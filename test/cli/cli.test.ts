import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMatchesOutputSchema } from '../support/output-schema.js';
import { pbxctl, ROOT } from './helpers.js';

const outputSchema = async (name: string) => JSON.parse(await readFile(join(ROOT, 'schemas/output', `${name}.schema.json`), 'utf8'));

let tmp: string;
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/commands/validate.js'))) throw new Error('run `npm run build` before the CLI tests');
  tmp = await mkdtemp(join(tmpdir(), 'pbxctl-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A minimal broken repo: two extensions share 1001, one forwards to a misspelt queue. */
async function brokenRepo(): Promise<string> {
  const dir = join(tmp, 'broken');
  await mkdir(join(dir, 'extensions'), { recursive: true });
  await mkdir(join(dir, 'queues'), { recursive: true });
  await writeFile(join(dir, 'pbx.yaml'), 'name: t\ndomain: pbx.example.com\nnumberPlan:\n  extensions: ["1000-1999"]\n  queues: ["7000-7099"]\nnodes:\n  - {name: lab, type: local}\n');
  await writeFile(join(dir, 'extensions/sales.yaml'), 'kind: Extension\nnumber: "1001"\nname: A\npassword: ${env:PW}\nforward:\n  busy: queue:salse\n');
  await writeFile(join(dir, 'extensions/support.yaml'), '# support\nkind: Extension\nnumber: "1001"\nname: B\npassword: ${env:PW}\n');
  await writeFile(join(dir, 'queues/sales.yaml'), 'kind: Queue\nid: sales\nnumber: "7000"\nstrategy: ring-all\nagents: [{extension: "1001"}]\n');
  return dir;
}

describe('pbxctl CLI', () => {
  it('lists its commands with --help', async () => {
    const r = await pbxctl(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['validate', 'schema', 'init']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\s`, 'm'));
  });

  it('prints the version in oclif format', async () => {
    const r = await pbxctl(['--version']);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    expect(r.stdout.trim()).toBe(`pbxctl/${pkg.version} ${process.platform}-${process.arch} node-${process.version}`);
  });

  it('shows examples in command help', async () => {
    const r = await pbxctl(['validate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('EXAMPLES');
    expect(r.stdout).toContain('--format');
  });

  it('reports compiler-style diagnostics and exits 1', async () => {
    const dir = await brokenRepo();
    const r = await pbxctl(['validate', dir], { env: { PW: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${dir}/extensions/support.yaml:3:9 error duplicate-number Extension 1001 is also defined at extensions/sales.yaml:2:9`);
    expect(r.stdout).toMatch(/extensions\/sales\.yaml:6:9 error unresolved-reference .*queue "salse"/);
    expect(r.stdout).toContain('Did you mean queue:sales?');
    expect(r.stdout).toMatch(/✗ 2 errors, 0 warnings/);
  });

  it('emits GitHub annotations with --format github', async () => {
    await brokenRepo();
    const r = await pbxctl(['validate', 'broken', '--format', 'github'], { cwd: tmp, env: { PW: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error file=broken/extensions/support.yaml,line=3,col=9,title=duplicate-number::Extension 1001 is also defined at extensions/sales.yaml:2:9');
  });

  it('prints JSON matching schemas/output/validate.schema.json', async () => {
    const dir = await brokenRepo();
    const schema = await outputSchema('validate');
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    for (const args of [['--json'], ['--format', 'json']]) {
      const r = await pbxctl(['validate', dir, ...args], { env: { PW: 'x' } });
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(validate(out), JSON.stringify(validate.errors)).toBe(true);
      expect(out.valid).toBe(false);
      expect(out.summary.errors).toBe(2);
      expect(out.diagnostics.map((d: { rule: string }) => d.rule).sort()).toEqual(['duplicate-number', 'unresolved-reference']);
    }
  });

  it('fails warnings only with --strict', async () => {
    const dir = await brokenRepo();
    await writeFile(join(dir, 'extensions/support.yaml'), 'kind: Extension\nnumber: "1002"\nname: B\npassword: ${secret:nope}\n');
    await writeFile(join(dir, 'extensions/sales.yaml'), 'kind: Extension\nnumber: "1001"\nname: A\npassword: ${env:PW}\n');
    expect((await pbxctl(['validate', dir], { env: { PW: 'x' } })).code).toBe(0);
    const strict = await pbxctl(['validate', dir, '--strict'], { env: { PW: 'x' } });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/error unresolved-secret \$\{secret:nope\} has no value/);
  });

  it('scaffolds a repo with init that validates clean under --strict', async () => {
    const dir = join(tmp, 'fresh');
    const init = await pbxctl(['init', dir, '--domain', 'pbx.acme.example', '--json']);
    expect(init.code).toBe(0);
    const result = JSON.parse(init.stdout);
    expectMatchesOutputSchema('init', result);
    expect(result.secrets.length).toBeGreaterThan(3);
    expect(await readFile(join(dir, '.gitignore'), 'utf8')).toContain('.secrets.yaml');
    expect(await readFile(join(dir, 'pbx.yaml'), 'utf8')).toContain('domain: pbx.acme.example');
    const v = await pbxctl(['validate', dir, '--strict']);
    expect(v.stdout).toContain('✓ valid');
    expect(v.code).toBe(0);
    const again = await pbxctl(['init', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('INIT_WOULD_OVERWRITE');
  });

  it('prints schemas by kind', async () => {
    const r = await pbxctl(['schema', 'Extension']);
    expect(JSON.parse(r.stdout).$id).toMatch(/extension\.schema\.json$/);
    const list = await pbxctl(['schema', '--json']);
    expectMatchesOutputSchema('schema-list', JSON.parse(list.stdout));
    const names = JSON.parse(list.stdout).map((e: { kind: string }) => e.kind);
    expect(names).toEqual(expect.arrayContaining(['Pbx', 'Extension', 'RingGroup', 'Queue', 'IVR', 'Trunk', 'InboundRoute', 'OutboundRoute', 'Schedule', 'Conference', 'VoicemailSettings', 'Webhook', 'MusicOnHold']));
    const bad = await pbxctl(['schema', 'Extenshun']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Did you mean Extension?');
    const badJson = await pbxctl(['schema', 'Extenshun', '--json']);
    expect(badJson.code).toBe(1);
    expectMatchesOutputSchema('error', JSON.parse(badJson.stdout));
    expect(JSON.parse(badJson.stdout).error.code).toBe('UNKNOWN_KIND');
    // cdr --format json fails in JSON too; a table request fails in text.
    const cdrJson = await pbxctl(['cdr', join(tmp, 'no-such-repo'), '--target', 'no-such-node', '--format', 'json']);
    expect(cdrJson.code).not.toBe(0);
    expectMatchesOutputSchema('error', JSON.parse(cdrJson.stdout));
    expect(JSON.parse(cdrJson.stdout).error.code).toBe('UNKNOWN_TARGET');
    const cdrText = await pbxctl(['cdr', join(tmp, 'no-such-repo'), '--target', 'no-such-node']);
    expect(cdrText.stdout).toBe('');
    expect(cdrText.stderr).toContain('Error [UNKNOWN_TARGET]');
  });

  it('gives usage errors exit code 64 and a missing repo a clear error', async () => {
    expect((await pbxctl(['validate', '--bogus'])).code).toBe(64);
    const r = await pbxctl(['validate', join(tmp, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error [REPO_NOT_FOUND]');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
  });

  it('never crashes on hostile files', async () => {
    const dir = join(tmp, 'hostile');
    await mkdir(join(dir, 'x'), { recursive: true });
    await writeFile(join(dir, 'pbx.yaml'), 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\n');
    await writeFile(join(dir, 'x/bin.yaml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
    await writeFile(join(dir, 'x/latin1.yaml'), Buffer.from('name: caf\xe9\n', 'latin1'));
    await writeFile(join(dir, 'x/empty.yaml'), '');
    await writeFile(join(dir, 'x/bomb.yaml'), `a: &a [x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`).join('\n')}\n`);
    await writeFile(join(dir, 'x/scalar.yaml'), '42\n');
    await writeFile(join(dir, 'x/tabs.yaml'), 'kind: Extension\n\tnumber: 1\n');
    const r = await pbxctl(['validate', dir, '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const rules = JSON.parse(r.stdout).diagnostics.map((d: { file: string; rule: string }) => `${d.file} ${d.rule}`);
    expect(rules).toEqual(expect.arrayContaining(['x/bin.yaml binary-file', 'x/latin1.yaml invalid-encoding', 'x/empty.yaml empty-file', 'x/scalar.yaml invalid-document', 'x/tabs.yaml yaml-syntax']));
    expect(rules.some((x: string) => x.startsWith('x/bomb.yaml'))).toBe(true);
  });

  it('checks the toolchain with doctor', async () => {
    const r = await pbxctl(['doctor', '--json'], { env: { PBXCTL_LAB_DIR: join(tmp, 'no-lab') } });
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expectMatchesOutputSchema('doctor', out);
    // The test suite needs these installed (scripts/install-deps.sh), so doctor must find them.
    expect(out.checks.map((c) => c.name)).toEqual(['node', 'kamailio', 'kamailio modules', 'rtpengine', 'sipp']);
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(out.checks.find((c) => c.name === 'rtpengine')!.detail).toMatch(/\d+\.\d+/);
  });
});
