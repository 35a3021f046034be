/**
 * What bootstrap needs to know about a node before it plans: the OS, which Debian packages are
 * installed, Node.js, whether systemd is PID 1, the service user, the managed files' current
 * hashes, the token, the installed pbxctl package and the services' state. One shell script over
 * SSH gathers it all (one round trip); {@link parseFacts} is pure.
 */
import type { ExecResult } from '../targets/ssh-connection.js';
import { shellQuote } from '../targets/ssh-connection.js';
import type { ServiceName } from './supervisor.js';

/** The shell side of a node, as bootstrap uses it (ssh.ts over SSH; fakes in tests). */
export interface NodeShell {
  /** `user@host:port`, for messages. */
  readonly label: string;
  exec(command: string, stdin?: string): Promise<ExecResult>;
  /** Writes a file atomically (temp name + rename) with `mode`. */
  writeFile(path: string, content: string | Buffer, mode: number): Promise<void>;
  /** Uploads a local file to `remote` (SFTP). */
  upload(local: string, remote: string): Promise<void>;
}

/** Debian packages a node needs (Kamailio with the modules templates/kamailio/kamailio.cfg loads, RTPengine). */
export const NODE_PACKAGES = ['kamailio', 'kamailio-json-modules', 'kamailio-extra-modules', 'kamailio-utils-modules', 'rtpengine-daemon'] as const;

/** Facts about a node. */
export interface NodeFacts {
  uid: number;
  login: string;
  os: { id: string; idLike: string; versionId: string; prettyName: string };
  /** Installed state of each of {@link NODE_PACKAGES} and nodejs. */
  packages: Record<string, boolean>;
  node?: { path: string; version: string; abi: string };
  /** systemd is PID 1 and answers (`systemctl is-system-running`: running, degraded, starting). */
  systemd: boolean;
  serviceUserExists: boolean;
  /** sha256 of each existing file asked about. */
  files: Record<string, string>;
  tokenExists: boolean;
  /** sha256 of the pbxctl package installed in DIR/app, if any. */
  packageHash?: string;
  /** Where DIR/current points, if anywhere. */
  current?: string;
  /** Existing directories: `mode owner group` (octal mode as stat %a prints it). */
  dirs: Record<string, { mode: string; owner: string; group: string }>;
  /** Which services run (supervisor pidfiles or systemctl is-active). */
  running: Partial<Record<ServiceName, boolean>>;
}

/** What to ask about. */
export interface InspectQuery {
  dir: string;
  serviceUser: string;
  tokenFile: string;
  files: string[];
  dirs: string[];
}

const UNIT: Record<ServiceName, string> = { rtpengine: 'pbxctl-rtpengine', kamailio: 'pbxctl-kamailio', daemon: 'pbxctl-daemon' };

/** The inspection script (POSIX sh); prints `key=value` lines. */
export function inspectScript(q: InspectQuery): string {
  const d = shellQuote(q.dir);
  const pkgs = [...NODE_PACKAGES, 'nodejs'].join(' ');
  return [
    'echo "uid=$(id -u)"', 'echo "login=$(id -un)"',
    'if [ -r /etc/os-release ]; then . /etc/os-release; fi',
    'echo "os_id=${ID:-}"', 'echo "os_like=${ID_LIKE:-}"', 'echo "os_version=${VERSION_ID:-}"', 'echo "os_pretty=${PRETTY_NAME:-}"',
    `for p in ${pkgs}; do s=$(dpkg-query -W -f='\${Status}' "$p" 2>/dev/null || true); case "$s" in *"install ok installed"*) echo "pkg=$p 1";; *) echo "pkg=$p 0";; esac; done`,
    'nb=$(command -v node || true)',
    'if [ -n "$nb" ]; then echo "node_path=$nb"; echo "node_version=$("$nb" -p process.version)"; echo "node_abi=$("$nb" -p process.versions.modules)"; fi',
    'echo "systemd=$(systemctl is-system-running 2>/dev/null || true)"',
    `if getent passwd ${shellQuote(q.serviceUser)} >/dev/null; then echo user=1; else echo user=0; fi`,
    ...q.files.map((f) => `if [ -f ${shellQuote(f)} ]; then echo "file=$(sha256sum ${shellQuote(f)} | cut -c1-64) "${shellQuote(f)}; fi`),
    `if [ -f ${shellQuote(q.tokenFile)} ]; then echo token=1; else echo token=0; fi`,
    `if [ -f ${d}/app/.package-hash ]; then echo "package=$(cat ${d}/app/.package-hash)"; fi`,
    `echo "current=$(readlink ${d}/current 2>/dev/null || true)"`,
    ...q.dirs.map((x) => `if [ -d ${shellQuote(x)} ]; then echo "dir=$(stat -c '%a %U %G' ${shellQuote(x)}) "${shellQuote(x)}; fi`),
    // Supervisor pidfiles: alive and the right program (as supervisor.ts checks).
    ...(['rtpengine', 'kamailio', 'daemon'] as const).map((s) => {
      const mark = s === 'daemon' ? `'pbxctl daemon'` : s;
      return `pid=$(cat ${d}/run/${s}.pid 2>/dev/null || true); if [ -n "$pid" ] && tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q ${mark}; then echo "sup=${s} 1"; else echo "sup=${s} 0"; fi`;
    }),
    ...(['rtpengine', 'kamailio', 'daemon'] as const).map((s) => `echo "unit=${s} $(systemctl is-active ${UNIT[s]} 2>/dev/null || true)"`),
    'exit 0',
  ].join('\n');
}

/** Parses the inspection script's output. Pure. */
export function parseFacts(out: string): NodeFacts {
  const f: NodeFacts = { uid: -1, login: '', os: { id: '', idLike: '', versionId: '', prettyName: '' }, packages: {}, systemd: false, serviceUserExists: false, files: {}, tokenExists: false, dirs: {}, running: {} };
  const node: Partial<NonNullable<NodeFacts['node']>> = {};
  const sup: Partial<Record<ServiceName, boolean>> = {};
  const unit: Partial<Record<ServiceName, boolean>> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    const [first, ...rest] = v.split(' ');
    const tail = rest.join(' ');
    switch (k) {
      case 'uid': f.uid = Number(v); break;
      case 'login': f.login = v; break;
      case 'os_id': f.os.id = v; break;
      case 'os_like': f.os.idLike = v; break;
      case 'os_version': f.os.versionId = v; break;
      case 'os_pretty': f.os.prettyName = v; break;
      case 'pkg': f.packages[first!] = tail === '1'; break;
      case 'node_path': node.path = v; break;
      case 'node_version': node.version = v; break;
      case 'node_abi': node.abi = v; break;
      case 'systemd': f.systemd = ['running', 'degraded', 'starting', 'initializing'].includes(v.trim()); break;
      case 'user': f.serviceUserExists = v === '1'; break;
      case 'file': f.files[tail] = first!; break;
      case 'token': f.tokenExists = v === '1'; break;
      case 'package': if (v.trim()) f.packageHash = v.trim(); break;
      case 'current': if (v.trim()) f.current = v.trim(); break;
      case 'dir': {
        const [mode, owner, group, ...p] = v.split(' ');
        f.dirs[p.join(' ')] = { mode: mode!, owner: owner!, group: group! };
        break;
      }
      case 'sup': sup[first as ServiceName] = tail === '1'; break;
      case 'unit': unit[first as ServiceName] = tail === 'active'; break;
      default: break;
    }
  }
  if (node.path && node.version && node.abi) f.node = node as NonNullable<NodeFacts['node']>;
  f.running = f.systemd ? unit : sup;
  return f;
}

/**
 * Inspects the node.
 * @throws PbxError SSH_* from the connection; NODE_INSPECT_FAILED when the script fails
 */
export async function inspectNode(shell: NodeShell, q: InspectQuery): Promise<NodeFacts> {
  const r = await shell.exec('sh -s', inspectScript(q));
  return parseFacts(r.stdout);
}
