/**
 * The bootstrap plan: from the node's facts and what it should have, the list of steps bootstrap
 * would take, each marked like a plan line (`+` create, `~` change, `=` unchanged, `!` blocked).
 * Pure, so a re-run shows exactly what it would change before changing anything, and an
 * up-to-date node shows only `=` lines.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { NodeFacts } from './inspect.js';
import { NODE_PACKAGES } from './inspect.js';
import type { ManagedFile } from './render.js';
import { SERVICES, type ServiceName } from './supervisor.js';

/** One operation bootstrap can carry out. */
export type BootstrapOp =
  | { kind: 'install-packages'; packages: string[] }
  | { kind: 'create-user'; user: string; home: string }
  | { kind: 'dir'; path: string; mode: string; owner: string; group: string }
  | { kind: 'token'; path: string; group: string }
  | { kind: 'package'; sha256: string }
  | { kind: 'file'; file: ManagedFile }
  | { kind: 'initial-release' }
  | { kind: 'systemd-units' }
  | { kind: 'services'; start: ServiceName[]; restart: ServiceName[] };

/** A line of the bootstrap plan. */
export interface BootstrapStep {
  action: '+' | '~' | '=' | '!';
  title: string;
  /** What carrying the step out does; absent for `=` and `!` lines. */
  op?: BootstrapOp;
}

/** Inputs of {@link planBootstrap}. */
export interface BootstrapWants {
  dir: string;
  serviceUser: string;
  tokenFile: string;
  files: ManagedFile[];
  package: { sha256: string; bytes: number; nodeAbi: string };
  installPackages: boolean;
}

/** Lowest Node.js the daemon runs on (package.json engines). */
export const MIN_NODE = [20, 19] as const;

/** sha256 hex of a file's content, as sha256sum prints it. */
export const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/**
 * Directories of the node dir with their mode and owner. Config and releases are written by the
 * login user (root) and read by the service user through the group; the setgid bit makes every
 * file and directory created below inherit that group, so SFTP uploads need no chown. run, log and
 * spool are the services' own (they write pidfiles' neighbours, logs, CDRs and voicemail there).
 */
export function nodeDirs(dir: string, login: string, user: string): { path: string; mode: string; owner: string; group: string }[] {
  const shared = (p: string) => ({ path: p, mode: '2750', owner: login, group: user });
  // setgid here too: directories inherit it from DIR, and chmod 750 would not clear it (GNU chmod keeps a directory's set-id bits).
  const own = (p: string) => ({ path: p, mode: '2750', owner: user, group: user });
  return [
    shared(dir), shared(posix.join(dir, 'etc')), shared(posix.join(dir, 'releases')), shared(posix.join(dir, 'state')), shared(posix.join(dir, 'packages')),
    own(posix.join(dir, 'run')), own(posix.join(dir, 'log')), own(posix.join(dir, 'spool')), own(posix.join(dir, 'spool', 'daemon')),
  ];
}

/** Whether a `node --version` string is at least {@link MIN_NODE}. */
export function nodeVersionOk(version: string): boolean {
  const [maj = 0, min = 0] = version.replace(/^v/, '').split('.').map(Number);
  return maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1]);
}

const short = (h: string) => h.slice(0, 12);

/** Computes the bootstrap plan. Pure. */
export function planBootstrap(f: NodeFacts, w: BootstrapWants): BootstrapStep[] {
  const steps: BootstrapStep[] = [];
  const debianLike = f.os.id === 'debian' || f.os.idLike.split(' ').includes('debian');
  if (!debianLike) steps.push({ action: '!', title: `the node runs ${f.os.prettyName || f.os.id || 'an unknown OS'}; pbxctl nodes are Debian (bookworm) with Debian's kamailio and rtpengine packages` });
  else steps.push({ action: '=', title: `operating system ${f.os.prettyName}${f.os.id === 'debian' && f.os.versionId !== '12' ? ' (tested on Debian 12)' : ''}` });
  if (f.uid !== 0) steps.push({ action: '!', title: `logged in as ${f.login} (uid ${f.uid}): bootstrap creates a system user and installs files under /etc, log in as root` });

  const missing = NODE_PACKAGES.filter((p) => !f.packages[p]);
  const needNode = !f.node;
  const install = [...missing, ...(needNode ? ['nodejs'] : [])];
  if (install.length === 0) steps.push({ action: '=', title: `packages ${NODE_PACKAGES.join(', ')} installed` });
  else if (w.installPackages) steps.push({ action: '+', title: `install packages ${install.join(' ')} (apt-get)`, op: { kind: 'install-packages', packages: install } });
  else steps.push({ action: '!', title: `missing packages: ${install.join(' ')} (pass --install-packages to install them with apt-get)` });
  if (f.node) {
    if (!nodeVersionOk(f.node.version)) steps.push({ action: '!', title: `Node.js ${f.node.version} at ${f.node.path} is too old for the feature daemon (needs ${MIN_NODE.join('.')} or later, e.g. from NodeSource)` });
    else if (f.node.abi !== w.package.nodeAbi) steps.push({ action: '!', title: `Node.js ${f.node.version} on the node has module ABI ${f.node.abi}, pbxctl's native modules here were built for ABI ${w.package.nodeAbi}: run the same Node.js major version on both` });
    else steps.push({ action: '=', title: `Node.js ${f.node.version} (${f.node.path})` });
  }

  if (f.serviceUserExists) steps.push({ action: '=', title: `system user ${w.serviceUser}` });
  else steps.push({ action: '+', title: `create system user ${w.serviceUser}`, op: { kind: 'create-user', user: w.serviceUser, home: posix.join(w.dir, 'spool') } });

  for (const d of nodeDirs(w.dir, f.login || 'root', w.serviceUser)) {
    const now = f.dirs[d.path];
    const want = `${d.mode} ${d.owner}:${d.group}`;
    if (!now) steps.push({ action: '+', title: `create ${d.path}/ (${want})`, op: { kind: 'dir', ...d } });
    else if (now.mode !== d.mode || now.owner !== d.owner || now.group !== d.group) steps.push({ action: '~', title: `fix ${d.path}/ (${now.mode} ${now.owner}:${now.group} -> ${want})`, op: { kind: 'dir', ...d } });
    else steps.push({ action: '=', title: `${d.path}/ (${want})` });
  }

  // Before the script is checked and started: Kamailio loads its data from current/.
  if (!f.current) steps.push({ action: '+', title: `create an empty first release (${w.dir}/current -> releases/empty) so Kamailio starts with data`, op: { kind: 'initial-release' } });
  else steps.push({ action: '=', title: `${w.dir}/current -> ${f.current} (releases are pbxctl apply's)` });

  const restart = new Set<ServiceName>();
  if (f.tokenExists) steps.push({ action: '=', title: `daemon API token ${w.tokenFile} (kept)` });
  else {
    steps.push({ action: '+', title: `create daemon API token ${w.tokenFile} (0640 root:${w.serviceUser})`, op: { kind: 'token', path: w.tokenFile, group: w.serviceUser } });
    restart.add('daemon'); // a running daemon holds the old token
  }

  const pkgTitle = `pbxctl package (${(w.package.bytes / 1048576).toFixed(1)} MiB, sha256 ${short(w.package.sha256)})`;
  if (f.packageHash === w.package.sha256) steps.push({ action: '=', title: pkgTitle });
  else {
    steps.push({ action: f.packageHash ? '~' : '+', title: `${f.packageHash ? `update pbxctl package ${short(f.packageHash)} ->` : 'install'} ${pkgTitle} in ${w.dir}/app`, op: { kind: 'package', sha256: w.package.sha256 } });
    restart.add('daemon');
  }

  let unitsChanged = false;
  for (const file of w.files) {
    const now = f.files[file.path];
    if (now === sha256(file.content)) {
      steps.push({ action: '=', title: file.path });
      continue;
    }
    steps.push({ action: now ? '~' : '+', title: `${now ? 'update' : 'create'} ${file.path}`, op: { kind: 'file', file } });
    if (file.restarts) restart.add(file.restarts);
    if (file.path.startsWith('/etc/systemd/') || file.path.startsWith('/etc/default/')) unitsChanged = true;
  }
  if (unitsChanged) steps.push({ action: '~', title: 'systemctl daemon-reload; enable the pbxctl-* units; mask Debian\'s kamailio and rtpengine-daemon units (same ports)', op: { kind: 'systemd-units' } });

  const start = SERVICES.filter((s) => !f.running[s]);
  const restartRunning = SERVICES.filter((s) => f.running[s] && restart.has(s));
  for (const s of SERVICES) {
    if (start.includes(s)) steps.push({ action: '+', title: `start ${s}` });
    else if (restartRunning.includes(s)) steps.push({ action: '~', title: `restart ${s} (its configuration or package changed)` });
    else steps.push({ action: '=', title: `${s} running` });
  }
  if (start.length || restartRunning.length) steps.push({ action: '~', title: `start/restart services: ${[...start, ...restartRunning].join(', ')}`, op: { kind: 'services', start, restart: restartRunning } });
  return steps;
}

/** Whether the plan has a blocking problem. */
export const blocked = (steps: BootstrapStep[]) => steps.filter((s) => s.action === '!');

/** Whether the plan changes anything. */
export const changes = (steps: BootstrapStep[]) => steps.filter((s) => s.op !== undefined);

/** The plan as text, one step per line (`+ create ...`), without the internal services line. */
export function renderBootstrapPlan(steps: BootstrapStep[]): string {
  return steps.filter((s) => s.op?.kind !== 'services').map((s) => `${s.action} ${s.title}`).join('\n');
}
