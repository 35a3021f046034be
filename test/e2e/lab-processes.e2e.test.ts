/**
 * src/lab against real processes: port plans, rendering and checking the Kamailio script, finding
 * programs, stopping exactly one PID, and startup failures that quote the daemon's log.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KAMAILIO_TEMPLATE,
  PORT_BLOCK_SIZE,
  checkKamailioConfig,
  findProgram,
  isProcessAlive,
  portPlan,
  renderKamailioConfig,
  startRtpengine,
  stopProcess,
} from '../../src/lab/index.js';
import { requireTools } from './support/lab-node.js';

let dir: string;
const params = { sipAddress: '127.0.0.5', sipPort: 25060, rpcPort: 25061, ngSocket: '127.0.0.1:25062', root: '/var/lib/pbxctl', domain: 'pbx.example.com', daemonPort: 25063 };

beforeAll(async () => {
  requireTools(['kamailio', 'rtpengine']);
  dir = await mkdtemp(join(tmpdir(), 'pbxctl-e2e-lab-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('portPlan', () => {
  it('derives every port from the base, inside one block', () => {
    const p = portPlan(25060);
    expect(p).toEqual({ base: 25060, sip: 25060, rpc: 25061, ng: 25062, daemonSip: 25063, daemonApi: 25064, evapi: 25065, rtpMin: 25070, rtpMax: 25169, clientMin: 25170, clientMax: 25359, daemonRtpMin: 25360, daemonRtpMax: 25060 + PORT_BLOCK_SIZE - 1 });
    expect(portPlan(25061).rtpMin % 2).toBe(0);
  });

  it('refuses bases that would leave the port range', () => {
    for (const bad of [80, 1024, 65_400, 2.5, Number.NaN]) expect(() => portPlan(bad), String(bad)).toThrow(/LAB_BAD_PORT_BASE|not usable/);
  });
});

describe('renderKamailioConfig', () => {
  it('replaces exactly the substdef values, and kamailio -c accepts the result', async () => {
    const template = await readFile(KAMAILIO_TEMPLATE, 'utf8');
    const out = renderKamailioConfig({ ...params, root: dir, domain: 'pbx.lab.test' });
    expect(out).toContain(`#!substdef "!PBX_ROOT!${dir}!g"`);
    expect(out).toContain('#!substdef "!PBX_NG_SOCK!udp:127.0.0.1:25062!g"');
    // evapi defaults to daemonPort + 2 (the lab plan's base + 5).
    expect(out).toContain('#!substdef "!PBX_EVAPI_PORT!25065!g"');
    expect(renderKamailioConfig({ ...params, evapiPort: 26000 })).toContain('#!substdef "!PBX_EVAPI_PORT!26000!g"');
    const changed = out.split('\n').filter((l, i) => l !== template.split('\n')[i]);
    expect(changed).toHaveLength(8);
    const file = join(dir, 'kamailio.cfg');
    await writeFile(file, out);
    await expect(checkKamailioConfig(file)).resolves.toMatch(/config file ok/);
  });

  it('refuses values that cannot be substituted safely', () => {
    expect(() => renderKamailioConfig({ ...params, sipAddress: 'pbx.local' })).toThrow(/not an IP address/);
    expect(() => renderKamailioConfig({ ...params, root: 'relative/root' })).toThrow(/absolute path/);
    expect(() => renderKamailioConfig({ ...params, root: '/tmp/a!b' })).toThrow(/absolute path/);
    expect(() => renderKamailioConfig({ ...params, domain: 'bad domain' })).toThrow(/host name/);
    expect(() => renderKamailioConfig({ ...params, rpcPort: 70_000 })).toThrow(/port/);
    expect(() => renderKamailioConfig({ ...params, ngSocket: '127.0.0.1' })).toThrow(/IP:PORT/);
  });

  it('reports a broken script with Kamailio\'s own error', async () => {
    const file = join(dir, 'broken.cfg');
    await writeFile(file, renderKamailioConfig(params).replace('route[REQINIT] {', 'route[REQINIT] {\n\tno_such_function();'));
    await expect(checkKamailioConfig(file)).rejects.toThrow(/LAB_CONFIG_INVALID|rejected/);
  });
});

describe('findProgram', () => {
  it('finds kamailio in sbin even without it in PATH, and names the Debian packages when missing', () => {
    expect(findProgram('kamailio', undefined, { PATH: '' })).toMatch(/\/kamailio$/);
    let error: unknown;
    try {
      findProgram('sipp', undefined, { PATH: '/nonexistent' });
    } catch (err) {
      error = err;
    }
    expect((error as { hint?: string }).hint).toBe('Install it (Debian/Ubuntu): sudo apt-get install -y sip-tester');
    expect(() => findProgram('rtpengine', '/nonexistent/rtpengine')).toThrow(/not an executable/);
  });
});

describe('stopProcess', () => {
  const sleeper = (script: string) => {
    const child = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    child.unref();
    return child.pid!;
  };

  it('stops exactly the given PID with SIGTERM', async () => {
    const a = sleeper('exec sleep 30');
    const b = sleeper('exec sleep 30');
    expect(await stopProcess(a)).toBe('stopped');
    expect(isProcessAlive(a)).toBe(false);
    expect(isProcessAlive(b)).toBe(true);
    expect(await stopProcess(b)).toBe('stopped');
    expect(await stopProcess(b)).toBe('not-running');
  });

  it('falls back to SIGKILL after the grace period', async () => {
    const pid = sleeper("trap '' TERM; while true; do sleep 0.1; done");
    await new Promise((r) => setTimeout(r, 200));
    expect(await stopProcess(pid, { timeoutMs: 300 })).toBe('killed');
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('leaves a process alone whose command line is not the expected one (recycled PID)', async () => {
    const pid = sleeper('exec sleep 30');
    expect(await stopProcess(pid, { expectCommand: 'kamailio' })).toBe('not-ours');
    expect(isProcessAlive(pid)).toBe(true);
    expect(await stopProcess(pid)).toBe('stopped');
  });
});

describe('startRtpengine', () => {
  it('fails with the daemon log when its NG port is taken', async () => {
    const blocker = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(0, '127.0.0.1', resolve));
    const ngPort = blocker.address().port;
    try {
      await expect(startRtpengine({
        address: '127.0.0.1', ngPort, rtpMin: 29_900, rtpMax: 29_950,
        pidFile: join(dir, 'run', 'rtpengine.pid'), logFile: join(dir, 'log', 'rtpengine.log'), timeoutMs: 5000,
      })).rejects.toThrow(/exited during startup[\s\S]*rtpengine\.log/);
    } finally {
      blocker.close();
    }
  });
});
