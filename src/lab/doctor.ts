/**
 * `pbxctl doctor`: checks the toolchain this machine needs to run or test a node — Node.js, the
 * Kamailio binary and every module the node script loads, RTPengine, sipp — and, when asked, a
 * node's health. Each check says how to fix what it finds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { aptInstallCommand, findProgram, type LabProgram } from './binaries.js';
import { KAMAILIO_TEMPLATE } from './kamailio.js';

/** One check's outcome. `required: false` checks only warn. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
  hint?: string;
}

function versionOf(program: string, args: string[]): string {
  // Some print their version on stderr (rtpengine), some exit non-zero after printing it.
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return out.split('\n').find((l) => /\d+\.\d+/.test(l))?.trim() ?? 'version unknown';
}

function program(name: LabProgram, versionArgs: string[], required: boolean, why: string): DoctorCheck {
  try {
    const path = findProgram(name);
    return { name, ok: true, required, detail: `${path}: ${versionOf(path, versionArgs)}` };
  } catch {
    return { name, ok: false, required, detail: `not installed (${why})`, hint: aptInstallCommand([name]) };
  }
}

/** Modules `loadmodule`d by the node script, e.g. `htable.so`. */
export function scriptModules(template = readFileSync(KAMAILIO_TEMPLATE, 'utf8')): string[] {
  return [...template.matchAll(/^loadmodule\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

/** Where Debian installs Kamailio modules. */
function moduleDir(): string | undefined {
  for (const d of ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules']) {
    if (existsSync(d)) return d;
  }
  return undefined;
}

/** Runs every toolchain check. Pure apart from reading the filesystem and running `--version`s. */
export function toolchainChecks(): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const nodeOk = major > 20 || (major === 20 && minor >= 19);
  checks.push({ name: 'node', ok: nodeOk, required: true, detail: `Node.js ${process.versions.node}`, ...(nodeOk ? {} : { hint: 'Install Node.js 20.19 or newer.' }) });
  const kam = program('kamailio', ['-v'], true, 'the SIP edge of a node');
  checks.push(kam);
  if (kam.ok) {
    const dir = moduleDir();
    const missing = dir ? scriptModules().filter((m) => !existsSync(`${dir}/${m}`)) : scriptModules();
    checks.push({
      name: 'kamailio modules', ok: missing.length === 0, required: true,
      detail: missing.length ? `missing: ${missing.join(', ')}` : `all ${scriptModules().length} modules of the node script in ${dir} (${readdirSync(dir!).length} installed)`,
      ...(missing.length ? { hint: aptInstallCommand(['kamailio']) } : {}),
    });
  }
  checks.push(program('rtpengine', ['--version'], true, 'the media relay of a node'));
  checks.push(program('sipp', ['-v'], false, 'test phones: `pbxctl lab call` and the end-to-end tests'));
  return checks;
}
