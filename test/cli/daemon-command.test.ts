/**
 * `pbxctl daemon` as a process: flag and token errors, start on a node with nothing deployed yet
 * (health answers, new calls would get 503), a config reload that finds no release, clean SIGTERM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, pbxctl } from './helpers.js';

/** A TCP port that was free a moment ago (bind 0, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const TOKEN = 'cli-test-token-0123456789abcdef';

describe('pbxctl daemon', () => {
  it('refuses a missing or short token file and a malformed address with clear errors', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbxctl-daemon-cli-'));
    const base = ['daemon', '--root', dir, '--sip-port', '5999', '--kamailio', '127.0.0.1:5998', '--ng', '127.0.0.1:5997', '--api-port', '5996', '--rtp-min', '40000', '--rtp-max', '40099', '--state-dir', join(dir, 's')];
    const missing = await pbxctl([...base, '--token-file', join(dir, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Error [DAEMON_TOKEN]: cannot read --token-file');
    await writeFile(join(dir, 'short'), 'abc\n');
    const short = await pbxctl([...base, '--token-file', join(dir, 'short')]);
    expect(short.stderr).toContain('shorter than 16 characters');
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    const bad = await pbxctl([...base.map((a) => (a === '127.0.0.1:5998' ? 'localhost' : a)), '--token-file', join(dir, 'token')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Error [BAD_FLAG]: --kamailio localhost is not HOST:PORT');
  });

  it('starts on a node with nothing deployed, serves its API, and stops cleanly on SIGTERM', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbxctl-daemon-cli-'));
    await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const [sip, api] = [await freePort(), await freePort()];
    child = spawn(process.execPath, [`${ROOT}bin/pbxctl`, 'daemon', '--root', dir, '--sip-port', String(sip), '--kamailio', '127.0.0.1:5060', '--ng', '127.0.0.1:2223', '--api-port', String(api), '--token-file', join(dir, 'token'), '--rtp-min', '41000', '--rtp-max', '41099', '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon not ready: ${stderr}`)), 10_000);
      child!.stderr!.on('data', () => {
        if (stderr.includes('daemon ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child!.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${stderr}`)));
    });
    expect(stderr).toContain('no feature config deployed yet');
    const health = await fetch(`http://127.0.0.1:${api}/v1/health`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await health.json()).toMatchObject({ status: 'ok', configVersion: null, calls: 0 });
    expect((await fetch(`http://127.0.0.1:${api}/v1/health`)).status).toBe(401);
    const reload = await fetch(`http://127.0.0.1:${api}/v1/config/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reload.status).toBe(422);
    expect(await reload.json()).toMatchObject({ code: 'DAEMON_NO_CONFIG' });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('daemon stopping');
  }, 30_000);
});
