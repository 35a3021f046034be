/**
 * Kamailio for a node: rendering the static script (templates/kamailio/kamailio.cfg), checking it,
 * and running it in the foreground (NODE-FACTS.md "Starting them for tests"). Readiness is a
 * JSON-RPC `core.version` over HTTP POST to 127.0.0.1:RPC_PORT (jsonrpcs module docs, transport 1).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PbxError } from '../lib/errors.js';
import { findProgram } from './binaries.js';
import { kamailioRpc } from '../kamailio/rpc-client.js';
import { spawnLogged, waitReady, type LabProcess } from './process.js';

/** Path of the script template shipped with pbxctl. */
export const KAMAILIO_TEMPLATE = fileURLToPath(new URL('../../templates/kamailio/kamailio.cfg', import.meta.url));

/** The values of the template's `#!substdef` lines. */
export interface KamailioConfigParams {
  /** SIP listen address (UDP and TCP), an IP literal, e.g. `127.0.0.1` or `192.0.2.10`. */
  sipAddress: string;
  sipPort: number;
  /** JSON-RPC port; always bound to 127.0.0.1. */
  rpcPort: number;
  /** RTPengine NG socket, `HOST:PORT` (UDP). */
  ngSocket: string;
  /** Absolute node root (docs/node-data.md layout); data is read from ROOT/current/. */
  root: string;
  /** SIP domain: the digest realm of the HA1s in htable `auth`. */
  domain: string;
  /** The feature daemon's SIP port (UDP) on `sipAddress`; Kamailio relays feature calls there. */
  daemonPort: number;
  /**
   * evapi's TCP port on 127.0.0.1, where the daemon connects for call and registration events
   * (docs/cdr.md). Default `daemonPort + 2`: the lab port plan's relation (ports.ts, base+3 / base+5).
   */
  evapiPort?: number;
}

const port = (name: string, v: number): string => {
  if (!Number.isInteger(v) || v < 1 || v > 65_535) throw bad(`${name} ${v} is not a port number (1-65535)`);
  return String(v);
};

function bad(message: string): PbxError {
  return new PbxError('LAB_BAD_CONFIG_VALUE', `cannot render kamailio.cfg: ${message}`);
}

/** Checks and formats every parameter as its `#!substdef` value. */
function substValues(p: KamailioConfigParams): Record<string, string> {
  if (isIP(p.sipAddress) === 0) throw bad(`sipAddress "${p.sipAddress}" is not an IP address`);
  const [ngHost, ngPort, ...extra] = p.ngSocket.split(/:(?=\d+$)/);
  if (extra.length > 0 || !ngHost || !ngPort || isIP(ngHost.replace(/^\[|\]$/g, '')) === 0) {
    throw bad(`ngSocket "${p.ngSocket}" is not IP:PORT`);
  }
  // The value sits inside `#!substdef "!NAME!value!g"` and in quoted module parameters.
  if (!isAbsolute(p.root) || /[!"\\\s]/.test(p.root)) {
    throw bad(`root "${p.root}" must be an absolute path without spaces, quotes, backslashes or "!"`);
  }
  if (!/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(p.domain)) {
    throw bad(`domain "${p.domain}" is not a host name`);
  }
  const sipAddress = p.sipAddress.includes(':') ? `[${p.sipAddress}]` : p.sipAddress;
  return {
    PBX_SIP_ADDR: sipAddress,
    PBX_SIP_PORT: port('sipPort', p.sipPort),
    PBX_RPC_PORT: port('rpcPort', p.rpcPort),
    PBX_NG_SOCK: `udp:${ngHost}:${port('ngSocket port', Number(ngPort))}`,
    PBX_ROOT: p.root.replace(/\/+$/, '') || '/',
    PBX_DOMAIN: p.domain,
    PBX_DAEMON_PORT: port('daemonPort', p.daemonPort),
    PBX_EVAPI_PORT: port('evapiPort', p.evapiPort ?? p.daemonPort + 2),
  };
}

/**
 * Renders the static Kamailio script: replaces the value of each `#!substdef "!PBX_NAME!value!g"`
 * line of the template and nothing else. Pure apart from reading the default template.
 * @param params listen address/ports, NG socket, node root, SIP domain
 * @param template the template text; default: {@link KAMAILIO_TEMPLATE}
 * @returns the script text for ROOT/etc/kamailio.cfg
 * @throws PbxError LAB_BAD_CONFIG_VALUE for a value that is not valid or cannot be substituted
 *   safely; Error (a packaging bug) when the template lacks one of the substdef lines
 */
export function renderKamailioConfig(params: KamailioConfigParams, template: string = readFileSync(KAMAILIO_TEMPLATE, 'utf8')): string {
  const values = substValues(params);
  const seen = new Set<string>();
  const out = template.replace(/^#!substdef "!(PBX_[A-Z_]+)!([^!\n]*)!g"$/gm, (line, name: string) => {
    const value = values[name];
    if (value === undefined) return line;
    seen.add(name);
    return `#!substdef "!${name}!${value}!g"`;
  });
  const missing = Object.keys(values).filter((n) => !seen.has(n));
  if (missing.length > 0) throw new Error(`kamailio.cfg template has no #!substdef line for ${missing.join(', ')}`);
  return out;
}

/**
 * Runs `kamailio -c -f FILE` (parse the script, load the modules, check the parameters; starts
 * nothing).
 * @returns Kamailio's output (it reports on stderr)
 * @throws PbxError LAB_BINARY_MISSING; LAB_CONFIG_INVALID with Kamailio's error lines
 */
export function checkKamailioConfig(configFile: string, binary?: string): Promise<string> {
  const program = findProgram('kamailio', binary);
  return new Promise((resolve, reject) => {
    execFile(program, ['-c', '-f', configFile], { timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!err) return resolve(output);
      const errors = output.split('\n').filter((l) => /ERROR|CRITICAL|error/.test(l)).slice(-15).join('\n');
      reject(new PbxError('LAB_CONFIG_INVALID', `kamailio -c rejected ${configFile}:\n${errors || output.slice(-2000)}`));
    });
  });
}

/** Options of {@link startKamailio}. */
export interface KamailioOptions {
  /** Path of the kamailio executable; default: searched in PATH and sbin directories. */
  binary?: string;
  /** The rendered script (ROOT/etc/kamailio.cfg). */
  configFile: string;
  /** Runtime directory (`-Y`), created if missing. */
  runDir: string;
  /** PID file (`-P`). */
  pidFile: string;
  /** Log file receiving stdout and stderr (appended; `-E` logs to stderr). */
  logFile: string;
  /** The script's JSON-RPC port on 127.0.0.1, polled for readiness. */
  rpcPort: number;
  /** Shared memory in MB (`-m`), default 64; private memory per process in MB (`-M`), default 8. */
  shmMb?: number;
  pkgMb?: number;
  /** How long to wait for `core.version`, ms; default 15000. */
  timeoutMs?: number;
}

/**
 * One JSON-RPC call over HTTP POST to 127.0.0.1:`rpcPort`/RPC, for readiness probes.
 * @returns the `result` member; rejects on HTTP/JSON errors, an `error` member, or `timeoutMs`
 */
export async function kamailioRpcCall(rpcPort: number, method: string, params: (string | number)[] = [], timeoutMs = 1000): Promise<unknown> {
  // One short-lived client: readiness probes must not keep sockets open between polls.
  const rpc = kamailioRpc({ port: rpcPort, timeoutMs });
  try {
    return await rpc.call(method, params);
  } finally {
    rpc.close();
  }
}

/**
 * Starts Kamailio in the foreground (`kamailio -f CFG -DD -E -Y RUNDIR -P PIDFILE -m 64 -M 8`) and
 * waits until JSON-RPC `core.version` answers. Start RTPengine first: the rtpengine module pings
 * it at startup and otherwise disables it for rtpengine_disable_tout seconds.
 * @returns the running process (its PID is Kamailio's main process; stopping it stops the workers)
 * @throws PbxError LAB_BINARY_MISSING (install kamailio packages), LAB_START_FAILED (it exited:
 *   script error, port in use; the error quotes its log), LAB_NOT_READY (no answer within
 *   timeoutMs; it was stopped)
 */
export async function startKamailio(o: KamailioOptions): Promise<LabProcess> {
  const command = [
    findProgram('kamailio', o.binary),
    '-f', o.configFile, '-DD', '-E', '-Y', o.runDir, '-P', o.pidFile,
    '-m', String(o.shmMb ?? 64), '-M', String(o.pkgMb ?? 8),
  ];
  await mkdir(o.runDir, { recursive: true });
  await mkdir(dirname(o.pidFile), { recursive: true });
  const { proc, exited } = spawnLogged('kamailio', command, o.logFile);
  await waitReady(proc, exited, async () => (await kamailioRpcCall(o.rpcPort, 'core.version')) !== undefined, `JSON-RPC core.version on 127.0.0.1:${o.rpcPort}`, o.timeoutMs ?? 15_000);
  return proc;
}
