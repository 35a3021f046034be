/**
 * A throw-away OpenSSH server for end-to-end tests (Debian's openssh-server): `/usr/sbin/sshd -D -e
 * -f CONFIG` on a probed 127.0.0.1 port with its own host key, one user key in its own
 * authorized_keys file, key login only, and a known_hosts file that lists its host key (plus one
 * that lists another key, for the mismatch test). `cutSessions()` kills the per-connection sshd
 * processes (dropping every SSH connection, the listener stays); `stop()` stops what it started.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';

/** A running sshd. */
export interface Sshd {
  port: number;
  /** Private key of the login user (root). */
  userKey: string;
  /** known_hosts naming this server's host key as `[127.0.0.1]:PORT`. */
  knownHosts: string;
  /** known_hosts naming another key for the same host (a "changed host key"). */
  wrongKnownHosts: string;
  /** sshd's log (stderr, -e). */
  logFile: string;
  pid: number;
  /** PIDs of the per-connection sshd processes now. */
  sessionPids(): number[];
  /** Kills every per-connection process: all SSH connections drop at once; new ones are accepted. */
  cutSessions(): number;
  /** Stops the listener and every session without waiting (the node becomes unreachable). */
  kill(): void;
  /** Starts the server again with the same port, keys and configuration. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 in 20000-31999 (e2e range), probed from a pid-derived start. */
async function freePort(avoid: (p: number) => boolean): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const port = 20_000 + ((process.pid * 13 + i * 97) % 12_000);
    if (!avoid(port) && (await canBind(port))) return port;
  }
  throw new Error('no free TCP port for sshd in 20000-31999');
}

/** Children of `pid` from /proc (ppid is field 4 of /proc/PID/stat). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** All descendants of `pid`. */
function descendantsOf(pid: number): number[] {
  const kids = childrenOf(pid);
  return kids.flatMap((k) => [k, ...descendantsOf(k)]);
}

/**
 * Starts sshd in `dir` (which must exist) as the current user (root in the tests).
 * @param opts.avoid ports the caller reserved (e.g. its node's port block)
 * @throws Error when sshd is not installed (install openssh-server) or does not listen within 10 s
 */
export async function startSshd(dir: string, opts: { avoid?: (p: number) => boolean } = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`end-to-end tests need ${SSHD}; install with: sudo apt-get install -y openssh-server`);
  // sshd refuses to start without its privilege separation directory (created by systemd normally).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const keygen = (file: string) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pbxctl-e2e', '-f', file]);
  const hostKey = join(dir, 'host_ed25519');
  const otherHostKey = join(dir, 'other_host_ed25519');
  const userKey = join(dir, 'id_ed25519');
  await Promise.all([keygen(hostKey), keygen(otherHostKey), keygen(userKey)]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${userKey}.pub`, 'utf8'), { mode: 0o600 });
  const port = await freePort(opts.avoid ?? (() => false));
  const line = async (pub: string) => `[127.0.0.1]:${port} ${(await readFile(pub, 'utf8')).split(' ').slice(0, 2).join(' ')}\n`;
  const knownHosts = join(dir, 'known_hosts');
  const wrongKnownHosts = join(dir, 'known_hosts.wrong');
  await writeFile(knownHosts, await line(`${hostKey}.pub`));
  await writeFile(wrongKnownHosts, await line(`${otherHostKey}.pub`));
  const config = join(dir, 'sshd_config');
  await writeFile(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password', 'AllowTcpForwarding local', 'X11Forwarding no',
    'Subsystem sftp internal-sftp', 'LogLevel VERBOSE', 'MaxSessions 30', 'MaxStartups 30:30:60', '',
  ].join('\n'));
  const logFile = join(dir, 'sshd.log');
  let child!: ChildProcess;
  let exited = false;
  const launch = async () => {
    const fd = openSync(logFile, 'a');
    try {
      child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    exited = false;
    const me = child;
    me.once('exit', () => {
      if (child === me) exited = true;
    });
    const deadline = Date.now() + 10_000;
    while (await canBind(port)) {
      if (exited || Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${await readFile(logFile, 'utf8').catch(() => '')}`);
      await sleep(50);
    }
  };
  await launch();
  const sessionPids = () => descendantsOf(child.pid!);
  const cutSessions = () => {
    const pids = sessionPids();
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    return pids.length;
  };
  return {
    port, userKey, knownHosts, wrongKnownHosts, logFile, sessionPids, cutSessions,
    get pid() {
      return child.pid!;
    },
    kill() {
      cutSessions();
      child.kill('SIGKILL');
    },
    async restart() {
      while (!exited) await sleep(20);
      await launch();
    },
    async stop() {
      cutSessions();
      if (!exited) {
        child.kill('SIGTERM');
        const until = Date.now() + 5000;
        while (!exited && Date.now() < until) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
    },
  };
}
