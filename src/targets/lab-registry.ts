/**
 * Where a lab node lives and how to reach it: `pbxctl lab up` writes lab.json into the lab
 * directory; `--target lab` reads it. The directory is $PBXCTL_LAB_DIR, else
 * $XDG_STATE_HOME/pbxctl/lab (~/.local/state/pbxctl/lab).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PbxError } from '../lib/errors.js';

/**
 * What lab.json records about a running lab node. The daemon fields are absent in a lab.json
 * written before `lab up` started the feature daemon (or by tests that start none): such a lab
 * target has no `daemon` and its plans carry no feature entries.
 */
export interface LabInfo {
  /** Node root (docs/node-data.md layout). */
  root: string;
  sipAddress: string;
  /**
   * Ports of the block (src/lab/ports.ts): Kamailio SIP, its JSON-RPC, RTPengine NG and RTP range;
   * `daemonSip` the feature daemon's SIP port (Kamailio's PBX_DAEMON_PORT), `daemonApi` its HTTP
   * API on 127.0.0.1.
   */
  ports: { sip: number; rpc: number; ng: number; rtpMin: number; rtpMax: number; daemonSip?: number; daemonApi?: number };
  pids: { kamailio?: number; rtpengine?: number; daemon?: number };
  /** The file holding the daemon API's bearer token (ROOT/etc/daemon.token, mode 0600). */
  daemonTokenFile?: string;
  domain: string;
  startedAt: string;
}

/** The lab directory for this environment. */
export function labDir(env: NodeJS.ProcessEnv = process.env, override?: string): string {
  if (override) return resolve(override);
  if (env.PBXCTL_LAB_DIR) return resolve(env.PBXCTL_LAB_DIR);
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pbxctl', 'lab');
}

/** Reads lab.json; undefined when no lab was started there. */
export async function readLabInfo(dir: string): Promise<LabInfo | undefined> {
  const text = await readFile(join(dir, 'lab.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as LabInfo;
  } catch {
    throw new PbxError('LAB_STATE_CORRUPT', `${join(dir, 'lab.json')} is not valid JSON`, { hint: 'Run `pbxctl lab down` and `pbxctl lab up` again.' });
  }
}

/** Writes lab.json. */
export async function writeLabInfo(dir: string, info: LabInfo): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'lab.json'), `${JSON.stringify(info, null, 2)}\n`);
}
