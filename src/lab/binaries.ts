/**
 * Finding the node's programs, and saying which Debian packages provide them when they are missing
 * (NODE-FACTS.md "Starting them for tests").
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { PbxError } from '../lib/errors.js';

/** The programs a lab node (and its end-to-end tests) run. */
export type LabProgram = 'kamailio' | 'rtpengine' | 'sipp';

/** Debian bookworm packages per program (kamailio's modules used by templates/kamailio/kamailio.cfg included). */
export const DEBIAN_PACKAGES: Readonly<Record<LabProgram, readonly string[]>> = {
  kamailio: ['kamailio', 'kamailio-json-modules', 'kamailio-extra-modules', 'kamailio-utils-modules'],
  rtpengine: ['rtpengine-daemon'],
  sipp: ['sip-tester'],
};

/** sbin directories are searched too: kamailio lives in /usr/sbin, often not in a user's PATH. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The apt-get command line that installs `programs`. */
export function aptInstallCommand(programs: readonly LabProgram[]): string {
  const pkgs = [...new Set(programs.flatMap((p) => DEBIAN_PACKAGES[p]))];
  return `sudo apt-get install -y ${pkgs.join(' ')}`;
}

/**
 * Absolute path of a program: `explicit` when given (must be executable), else the first match in
 * PATH, /usr/local/sbin, /usr/sbin, /sbin.
 * @param program which program (its executable has the same name)
 * @param explicit a path given by the user (flag or option), checked instead of searching
 * @throws PbxError LAB_BINARY_MISSING naming the Debian packages to install
 */
export function findProgram(program: LabProgram, explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) {
    const found = isAbsolute(explicit) ? (isExecutable(explicit) ? explicit : undefined) : searchPath(explicit, env);
    if (found) return found;
    throw missing(program, `${explicit} is not an executable file`);
  }
  const found = searchPath(program, env);
  if (found) return found;
  throw missing(program, `${program} was not found in PATH or ${EXTRA_DIRS.join(', ')}`);
}

function searchPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function missing(program: LabProgram, what: string): PbxError {
  return new PbxError('LAB_BINARY_MISSING', what, {
    hint: `Install it (Debian/Ubuntu): ${aptInstallCommand([program])}`,
  });
}
